// Who may use the hub from chat: HUB_ALLOWED_USERS patterns, admins, and users an admin paired with a one-time code.
import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { ConflictError, errorText, InvalidInputError, NotFoundError } from '../errors.ts';
import type { HubContext } from '../hub-context.ts';
import type { ConversationRef } from '../types.ts';
import type { AccessGrantRow, PairingCodeRow } from '../store/access-rows.ts';

/** What the hub does with an inbound message: let it through, or refuse it with `reply` (null: told recently, stay silent). */
export type AccessDecision = { allowed: true } | { allowed: false; reply: string | null };

/** What `admin access` shows. */
export interface AccessOverview {
  open: boolean;
  patterns: string[];
  pairing: boolean;
  grants: AccessGrantRow[];
  pending: PairingCodeRow[];
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I: codes are read aloud and retyped
const CODE_LENGTH = 8;

/** Compiles `platform:id` patterns where `*` matches any run of characters (everything else is literal). */
export function compileUserPatterns(patterns: string[]): (userId: string) => boolean {
  const res = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split('*')
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*')}$`,
      ),
  );
  return (userId) => res.some((re) => re.test(userId));
}

/** Decides and records who may use the hub; every frontend's inbound message passes `check` first. */
export class AccessService {
  private readonly listed: (userId: string) => boolean;

  constructor(private readonly ctx: HubContext) {
    this.listed = compileUserPatterns(ctx.config.HUB_ALLOWED_USERS);
  }

  /** True when anyone may use the hub: no HUB_ALLOWED_USERS and no pairing (the default). */
  get open(): boolean {
    return this.ctx.config.HUB_ALLOWED_USERS.length === 0 && !this.ctx.config.HUB_PAIRING;
  }

  /** Whether a user may submit and run commands: admins, matches of HUB_ALLOWED_USERS, and (with pairing) approved users. */
  async isAllowed(userId: string): Promise<boolean> {
    if (this.open || this.ctx.isAdmin(userId) || this.listed(userId)) return true;
    if (!this.ctx.config.HUB_PAIRING) return false;
    const grant = await this.ctx.db
      .selectFrom('access_grants')
      .select('user_id')
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return !!grant;
  }

  /**
   * Lets an allowed user through; refuses anyone else with one clear message per HUB_REFUSAL_INTERVAL_MS (later
   * messages get no answer, so the bot cannot be used to spam a number or a channel). With pairing, the message
   * carries a one-time code for an admin to approve.
   */
  async check(origin: ConversationRef): Promise<AccessDecision> {
    const userId = origin.userId;
    if (await this.isAllowed(userId)) return { allowed: true };
    if (!(await this.firstRefusal(userId))) return { allowed: false, reply: null };
    const { config } = this.ctx;
    let reply: string;
    if (config.HUB_PAIRING) {
      const { code, expires_at } = await this.codeFor(origin);
      const hours = Math.max(1, Math.round((expires_at.getTime() - Date.now()) / 3_600_000));
      reply = `This bot is private. To get access, send this code to one of its admins: ${code} (valid for ${hours} h). They approve it with: admin pair ${code}`;
    } else {
      reply = `Sorry, this bot is private and you (${userId}) are not on its list of users. Ask its admin to add you.`;
    }
    await this.audit(userId, 'access.refused', 'hub', { platform: origin.platform, pairing: config.HUB_PAIRING });
    this.ctx.log.info({ user: userId, platform: origin.platform }, 'refused a user who may not use the hub');
    return { allowed: false, reply };
  }

  /** Approves a pairing code (admins): its user may use the hub from now on. */
  async approve(rawCode: string, actor: string): Promise<{ userId: string }> {
    if (!this.ctx.config.HUB_PAIRING)
      throw new ConflictError('Pairing is off on this hub (set HUB_PAIRING=true to let users ask with a code).');
    const code = normaliseCode(rawCode);
    return this.ctx.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('pairing_codes')
        .selectAll()
        .where('code', '=', code)
        .forUpdate()
        .executeTakeFirst();
      if (!row || row.approved_at) throw new NotFoundError(`No pending pairing code ${code}.`);
      if (row.expires_at.getTime() < Date.now())
        throw new InvalidInputError(
          `Pairing code ${code} has expired; the user gets a new one by writing to the bot again.`,
        );
      await trx
        .updateTable('pairing_codes')
        .set({ approved_at: sql`now()`, approved_by: actor })
        .where('code', '=', code)
        .execute();
      await trx
        .insertInto('access_grants')
        .values({ user_id: row.user_id, granted_by: actor, code, revoked_at: null, revoked_by: null })
        .onConflict((oc) =>
          oc
            .column('user_id')
            .doUpdateSet({ granted_by: actor, code, created_at: sql`now()`, revoked_at: null, revoked_by: null }),
        )
        .execute();
      await trx
        .insertInto('access_events')
        .values({ user_id: row.user_id, type: 'pairing.approved', actor, data: JSON.stringify({ code }) })
        .execute();
      this.ctx.log.info({ user: row.user_id, actor }, 'pairing approved');
      return { userId: row.user_id };
    });
  }

  /** Takes a paired user's access away (admins). Users matched by HUB_ALLOWED_USERS stay allowed. */
  async revoke(userId: string, actor: string): Promise<{ userId: string; stillListed: boolean }> {
    const row = await this.ctx.db
      .updateTable('access_grants')
      .set({ revoked_at: sql`now()`, revoked_by: actor })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .returning('user_id')
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`${userId} was not paired.`);
    await this.audit(userId, 'access.revoked', actor, null);
    return { userId, stillListed: this.ctx.isAdmin(userId) || this.listed(userId) };
  }

  /** The policy, the paired users and the codes waiting for approval. */
  async overview(): Promise<AccessOverview> {
    const { config } = this.ctx;
    const [grants, pending] = await Promise.all([
      this.ctx.db
        .selectFrom('access_grants')
        .selectAll()
        .where('revoked_at', 'is', null)
        .orderBy('created_at', 'desc')
        .limit(200)
        .execute(),
      this.ctx.db
        .selectFrom('pairing_codes')
        .selectAll()
        .where('approved_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .orderBy('created_at', 'desc')
        .limit(200)
        .execute(),
    ]);
    return { open: this.open, patterns: config.HUB_ALLOWED_USERS, pairing: config.HUB_PAIRING, grants, pending };
  }

  /** The user's pending code, or a new one. */
  private async codeFor(origin: ConversationRef): Promise<PairingCodeRow> {
    const existing = await this.ctx.db
      .selectFrom('pairing_codes')
      .selectAll()
      .where('user_id', '=', origin.userId)
      .where('approved_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    if (existing) return existing;
    const expires = new Date(Date.now() + this.ctx.config.HUB_PAIRING_CODE_TTL_MS);
    for (;;) {
      const code = Array.from({ length: CODE_LENGTH }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]).join('');
      const row = await this.ctx.db
        .insertInto('pairing_codes')
        .values({
          code,
          user_id: origin.userId,
          origin: JSON.stringify(origin),
          expires_at: expires,
          approved_at: null,
          approved_by: null,
        })
        .onConflict((oc) => oc.column('code').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!row) continue; // a collision in 32^8 codes: draw again
      await this.audit(origin.userId, 'pairing.requested', origin.userId, { code, platform: origin.platform });
      return row;
    }
  }

  /** True when the user was not told within the refusal interval; a Redis failure tells them (never silently drop). */
  private async firstRefusal(userId: string): Promise<boolean> {
    try {
      const ok = await this.ctx.redis.set(
        this.ctx.keys.accessRefused(userId),
        '1',
        'PX',
        this.ctx.config.HUB_REFUSAL_INTERVAL_MS,
        'NX',
      );
      return ok === 'OK';
    } catch (err) {
      this.ctx.log.warn({ err: errorText(err) }, 'refusal rate limit unavailable; answering');
      return true;
    }
  }

  private async audit(userId: string, type: string, actor: string, data: Record<string, unknown> | null) {
    await this.ctx.db
      .insertInto('access_events')
      .values({ user_id: userId, type, actor, data: data ? JSON.stringify(data) : null })
      .execute();
  }
}

/** "abcd-2345 " -> "ABCD2345". */
function normaliseCode(raw: string): string {
  return String(raw ?? '')
    .toUpperCase()
    .replace(/[^A-Z0-9]/g, '');
}
