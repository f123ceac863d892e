// Markdown results in each platform's markup: as is, Slack mrkdwn, or plain text.
import { describe, expect, it } from 'vitest';
import { markdownFor } from '../src/notifications/markdown-text.ts';

const md = [
  '# Talking points',
  '',
  'The **Clean Air Act** amendment, see [the bill](https://example.org/bill) and `HB-12`.',
  '',
  '- *Costs* fall by ~~20%~~ 25%',
  '- Jobs & growth',
  '',
  '| Policy | Premium |',
  '| --- | --- |',
  '| A | $120 |',
  '',
  '```',
  'x < 1',
  '```',
].join('\n');

describe('markdownFor', () => {
  it('leaves Markdown alone where it renders', () => {
    expect(markdownFor(md, 'markdown')).toBe(md);
  });

  it('turns Markdown into readable plain text for platforms without markup', () => {
    const plain = markdownFor(md, 'none');
    expect(plain).toContain(
      'Talking points\n\nThe Clean Air Act amendment, see the bill (https://example.org/bill) and HB-12.',
    );
    expect(plain).toContain('• Costs fall by 20% 25%\n• Jobs & growth');
    expect(plain).toContain('Policy | Premium\nA | $120');
    expect(plain).toContain('x < 1');
    expect(plain).not.toMatch(/\*\*|^#|\]\(|`/m);
  });

  it("speaks Slack's mrkdwn: single-star bold, underscores, tildes, bold headings, tables in a code block", () => {
    const slack = markdownFor(md, 'mrkdwn');
    expect(slack).toContain('*Talking points*');
    expect(slack).toContain('The *Clean Air Act* amendment, see the bill (https://example.org/bill) and `HB-12`.');
    expect(slack).toContain('• _Costs_ fall by ~20%~ 25%');
    expect(slack).toContain('```\nPolicy | Premium\nA | $120\n```');
    expect(slack).not.toContain('**');
  });

  it('keeps plain text that is not Markdown as it was', () => {
    expect(markdownFor('Solutions: 1) x = 4 2) y = 7', 'none')).toBe('Solutions: 1) x = 4 2) y = 7');
    expect(markdownFor('file my_report_final.txt is ready', 'mrkdwn')).toBe('file my_report_final.txt is ready');
  });
});
