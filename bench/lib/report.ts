// The results table: rows with an optional target, printed as aligned text and stored in the JSON file.

/** One line of the table. */
export interface Row {
  scenario: string;
  metric: string;
  value: string;
  target?: string;
  /** Whether the target is met; undefined when the row has no target. */
  met?: boolean;
}

/** Renders rows as a fixed-width text table. */
export function renderTable(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.scenario,
    r.metric,
    r.value,
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'met' : 'MISSED',
  ]);
  const head = ['scenario', 'metric', 'value', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** Renders rows as a Markdown table (for the README). */
export function renderMarkdown(rows: Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| scenario | metric | value | target | |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${esc(r.scenario)} | ${esc(r.metric)} | ${esc(r.value)} | ${esc(r.target ?? '')} | ${r.met === undefined ? '' : r.met ? 'met' : '**missed**'} |`,
    ),
  ].join('\n');
}
