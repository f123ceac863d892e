// Splitting long text for platforms with a message length limit.

/**
 * Splits text into pieces whose `measure` (default: UTF-16 length) is at most `max`, preferring line, then word
 * boundaries, never inside a surrogate pair. `measure` lets a platform count its escaped form (Slack's &amp;).
 */
export function splitText(text: string, max: number, measure: (s: string) => number = (s) => s.length): string[] {
  const out: string[] = [];
  let rest = text;
  while (measure(rest) > max) {
    let budget = Math.min(rest.length, max);
    while (budget > 1 && measure(rest.slice(0, budget)) > max) budget = Math.floor(budget * 0.9);
    let cut = rest.lastIndexOf('\n', budget);
    if (cut < budget / 2) cut = rest.lastIndexOf(' ', budget);
    if (cut < budget / 2) cut = budget;
    if (/[\uD800-\uDBFF]/.test(rest.charAt(cut - 1))) cut -= 1;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, '');
  }
  if (rest.length || out.length === 0) out.push(rest);
  return out;
}
