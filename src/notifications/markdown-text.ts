// Markdown results in each platform's own markup: Slack's mrkdwn, or readable plain text where nothing renders.
import { Lexer, type Token, type Tokens } from 'marked';
import type { FrontendLimits } from '../frontends/frontend.ts';

/** How emphasis, code and links look in one target markup. */
interface Style {
  strong(s: string): string;
  em(s: string): string;
  del(s: string): string;
  code(s: string): string;
  heading(s: string): string;
  link(text: string, href: string): string;
  block(code: string): string;
}

const PLAIN: Style = {
  strong: (s) => s,
  em: (s) => s,
  del: (s) => s,
  code: (s) => s,
  heading: (s) => s,
  link: (text, href) => (text === href || !text ? href : `${text} (${href})`),
  block: (code) => code,
};

// Slack: *bold*, _italic_, ~strike~, `code`, ``` blocks; no headings (bold instead). Links stay as their URL, which
// Slack links by itself, because the frontend escapes <, > and & in everything it posts.
const SLACK: Style = {
  strong: (s) => (s.trim() ? `*${s}*` : s),
  em: (s) => (s.trim() ? `_${s}_` : s),
  del: (s) => (s.trim() ? `~${s}~` : s),
  code: (s) => `\`${s}\``,
  heading: (s) => `*${s}*`,
  link: PLAIN.link,
  block: (code) => `\`\`\`\n${code}\n\`\`\``,
};

/**
 * Markdown as the platform shows it: unchanged where Markdown renders (Discord, the web), Slack mrkdwn for Slack,
 * readable plain text (no `**`, `#` or link syntax) for platforms without markup (Telegram here, SMS).
 */
export function markdownFor(markdown: string, markup: FrontendLimits['markup']): string {
  if (markup === 'markdown' || markup === 'html') return markdown;
  const style = markup === 'mrkdwn' ? SLACK : PLAIN;
  return blocks(Lexer.lex(markdown), style).trim();
}

function blocks(tokens: Token[], style: Style): string {
  return tokens
    .map((t) => block(t, style))
    .filter((s) => s !== '')
    .join('\n\n');
}

function block(t: Token, style: Style): string {
  switch (t.type) {
    case 'space':
    case 'hr':
      return t.type === 'hr' ? '———' : '';
    case 'heading':
      return style.heading(inline((t as Tokens.Heading).tokens, style));
    case 'paragraph':
      return inline((t as Tokens.Paragraph).tokens, style);
    case 'code':
      return style.block((t as Tokens.Code).text);
    case 'blockquote':
      return blocks((t as Tokens.Blockquote).tokens, style)
        .split('\n')
        .map((l) => `> ${l}`)
        .join('\n');
    case 'list': {
      const list = t as Tokens.List;
      const first = Number(list.start || 1);
      return list.items
        .map((item, i) => {
          const mark = list.ordered ? `${first + i}.` : '•';
          const body = blocks(item.tokens, style).replace(/\n/g, '\n   ');
          return `${mark} ${item.task ? (item.checked ? '[x] ' : '[ ] ') : ''}${body}`;
        })
        .join('\n');
    }
    case 'table': {
      const table = t as Tokens.Table;
      const row = (cells: Tokens.TableCell[]) => cells.map((c) => inline(c.tokens, PLAIN)).join(' | ');
      const lines = [row(table.header), ...table.rows.map(row)];
      // Columns line up only in a monospaced block; Slack has one, plain text keeps the rows as they are.
      return style === SLACK ? style.block(lines.join('\n')) : lines.join('\n');
    }
    case 'text':
      return 'tokens' in t && t.tokens ? inline(t.tokens, style) : (t as Tokens.Text).text;
    case 'html':
      return (t as Tokens.HTML).text.trim();
    default:
      return 'raw' in t ? String(t.raw).trim() : '';
  }
}

function inline(tokens: Token[] | undefined, style: Style): string {
  return (tokens ?? [])
    .map((t): string => {
      switch (t.type) {
        case 'strong':
          return style.strong(inline((t as Tokens.Strong).tokens, style));
        case 'em':
          return style.em(inline((t as Tokens.Em).tokens, style));
        case 'del':
          return style.del(inline((t as Tokens.Del).tokens, style));
        case 'codespan':
          return style.code(unescape((t as Tokens.Codespan).text));
        case 'link': {
          const link = t as Tokens.Link;
          return style.link(inline(link.tokens, PLAIN), link.href);
        }
        case 'image':
          return style.link((t as Tokens.Image).text, (t as Tokens.Image).href);
        case 'br':
          return '\n';
        case 'text':
          return 'tokens' in t && t.tokens ? inline(t.tokens, style) : unescape((t as Tokens.Text).text);
        case 'escape':
          return (t as Tokens.Escape).text;
        default:
          return 'raw' in t ? String(t.raw) : '';
      }
    })
    .join('');
}

/** marked keeps a few entities escaped in text tokens; the platforms get the characters. */
function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}
