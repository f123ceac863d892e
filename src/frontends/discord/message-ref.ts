// How a Discord message is named in a MessageRef: a channel message, or an interaction's original response.

/** A decoded Discord message reference. */
export interface DiscordMessageKey {
  /** The message id in its channel, when known. */
  messageId?: string | undefined;
  /** The interaction token that may still edit the message through the webhook route. */
  token?: string | undefined;
  /** When the interaction was created (ms since epoch); its token expires 15 minutes later. */
  createdAt?: number | undefined;
}

const PREFIX = 'ix';
const DISCORD_EPOCH = 1_420_070_400_000;

/** Encodes a message key as one MessageRef.messageId string. */
export function encodeMessageKey(key: DiscordMessageKey): string {
  if (!key.token) return key.messageId ?? '';
  return [PREFIX, String(key.createdAt ?? Date.now()), key.messageId ?? '', key.token].join(':');
}

/** Decodes what `encodeMessageKey` made; a bare id is a plain channel message. */
export function decodeMessageKey(id: string): DiscordMessageKey {
  if (!id.startsWith(`${PREFIX}:`)) return { messageId: id };
  const [, created = '', messageId = '', ...token] = id.split(':');
  return { createdAt: Number(created) || 0, messageId: messageId || undefined, token: token.join(':') || undefined };
}

/** The creation time encoded in a Discord snowflake id; `fallback` when the id is not a plausible snowflake. */
export function snowflakeTime(id: string, fallback = Date.now()): number {
  if (!/^\d{15,21}$/.test(id)) return fallback;
  const at = Number(BigInt(id) >> 22n) + DISCORD_EPOCH;
  return at > DISCORD_EPOCH && at <= Date.now() + 60_000 ? at : fallback;
}
