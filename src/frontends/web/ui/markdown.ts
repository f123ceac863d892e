// Task results as Markdown, rendered by marked and sanitised by DOMPurify (no scripts, no event handlers).
import DOMPurify from 'dompurify';
import { Marked } from 'marked';

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Markdown without raw HTML: HTML written in a result shows as text. */
const md = new Marked({
  async: false,
  gfm: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
  },
});

/** Safe HTML of a Markdown text: raw HTML escaped by the renderer, then sanitised by DOMPurify as a second line. */
export function markdownHtml(text: string): string {
  return DOMPurify.sanitize(md.parse(text) as string, { USE_PROFILES: { html: true } });
}

/** The text of a task result worth rendering as Markdown, or null when it is structured data. */
export function resultText(result: unknown): string | null {
  if (typeof result === 'string') return result;
  if (result && typeof result === 'object') {
    const r = result as Record<string, unknown>;
    for (const key of ['markdown', 'text', 'summary', 'answer', 'output'])
      if (typeof r[key] === 'string') return r[key];
  }
  return null;
}
