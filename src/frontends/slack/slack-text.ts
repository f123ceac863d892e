// Text in and out of Slack: mrkdwn escaping, Slack's <link|label> markup, Block Kit buttons, 3,000-character parts.
import { splitText } from '../../core/text.ts';
import type { types } from '@slack/bolt';
import type { OutboundMessage } from '../frontend.ts';

/** Longest text one Slack message carries here: the limit of a section block's text. */
export const SLACK_SECTION_LIMIT = 3000;

/** Prefix of the action_id of every button this frontend renders (`sb_cancel`, `sb_retry`, ...). */
export const ACTION_PREFIX = 'sb_';

type Action = NonNullable<OutboundMessage['actions']>[number];

const BUTTONS: Record<Action, { label: string; style?: 'primary' | 'danger' }> = {
  cancel: { label: 'Cancel', style: 'danger' },
  retry: { label: 'Retry', style: 'primary' },
  approve: { label: 'Approve', style: 'primary' },
  reject: { label: 'Reject', style: 'danger' },
};

/** Escapes the three characters Slack treats as markup in message text. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Turns Slack's message markup into plain text: the bot's own mention is dropped, links become their URL,
 * channel and special mentions their name, and entities are decoded.
 */
export function fromSlackText(text: string, botUserId?: string): string {
  let out = text;
  if (botUserId) out = out.replace(new RegExp(`<@${botUserId}(\\|[^>]*)?>`, 'g'), ' ');
  out = out
    .replace(/<#[A-Z0-9]+\|([^>]*)>/g, '#$1')
    .replace(/<!(here|channel|everyone)(\|[^>]*)?>/g, '@$1')
    .replace(/<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>/g, (_m, url: string, label?: string) =>
      url.startsWith('mailto:') ? (label ?? url.slice(7)) : url,
    );
  return out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&').trim();
}

/** Splits text into parts whose escaped form fits `max`, preferring line, then word boundaries. */
export function splitForSlack(text: string, max = SLACK_SECTION_LIMIT): string[] {
  return splitText(text, max, (part) => escapeSlack(part).length);
}

/** Cuts text so its escaped form fits `max`, marking the cut. */
export function fitForSlack(text: string, max = SLACK_SECTION_LIMIT): string {
  if (escapeSlack(text).length <= max) return text;
  let budget = max - 1;
  while (escapeSlack(text.slice(0, budget)).length > max - 1) budget = Math.floor(budget * 0.9);
  return `${text.slice(0, budget)}…`;
}

/** The `text` and `blocks` of a message: one mrkdwn section, then the task's buttons (if any). */
export function renderMessage(
  text: string,
  taskId: string,
  actions?: OutboundMessage['actions'],
): { text: string; blocks: types.KnownBlock[] } {
  const escaped = escapeSlack(text.trim() === '' ? '(no text)' : text);
  const blocks: types.KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: escaped } }];
  if (actions?.length && taskId) {
    blocks.push({
      type: 'actions',
      block_id: `sb_actions_${taskId.slice(0, 8)}`,
      elements: actions.map(
        (a): types.Button => ({
          type: 'button',
          action_id: `${ACTION_PREFIX}${a}`,
          value: taskId,
          text: { type: 'plain_text', text: BUTTONS[a].label },
          ...(BUTTONS[a].style ? { style: BUTTONS[a].style } : {}),
        }),
      ),
    });
  }
  return { text: escaped, blocks };
}
