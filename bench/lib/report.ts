// The results table: rows with an optional target, printed as aligned text and stored in the JSON file.

/** One line of the table. */
export interface Row {
  scenario: string;
  metric: string;
  value: string;
  target?: string;
  /** Whether the target is met; undefined when the row has no target. */
  met?: boolean;
  /** Set on the rows that measure one of ISSUE_TARGETS: that target's name (the summary lists them). */
  goal?: string;
}

/** The performance targets of issue 9, in the order the summary lists them. */
export const ISSUE_TARGETS = [
  'single-step tasks/s vs the durable floor',
  'CPU per single-step task, all processes',
  'CPU per 10-subtask DAG task, all processes',
  'submit p99 at 100 tasks/s, HTTP API',
  'progress report -> edit p99',
  'hub RSS with 10,000 tasks in flight',
] as const;

const verdict = (met: boolean | undefined) => (met === undefined ? '' : met ? 'PASS' : 'MISS');

/** One line per issue target: its number from this run and PASS / MISS ("not run" when its scenario did not run). */
export function renderTargets(rows: Row[]): string {
  const lines = ISSUE_TARGETS.map((goal) => {
    const r = rows.find((x) => x.goal === goal);
    return r ? [goal, r.value, r.target ?? '', verdict(r.met)] : [goal, 'not run', '', ''];
  });
  return aligned(['issue 9 target', 'value', 'target', ''], lines);
}

/** Renders rows as a fixed-width text table. */
export function renderTable(rows: Row[]): string {
  const cells = rows.map((r) => [r.scenario, r.metric, r.value, r.target ?? '', verdict(r.met)]);
  return aligned(['scenario', 'metric', 'value', 'target', ''], cells);
}

function aligned(head: string[], cells: string[][]): string {
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
        `| ${esc(r.scenario)} | ${esc(r.metric)} | ${esc(r.value)} | ${esc(r.target ?? '')} | ${r.met === false ? '**MISS**' : verdict(r.met)} |`,
    ),
  ].join('\n');
}
