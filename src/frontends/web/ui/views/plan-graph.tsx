// The plan as a graph: steps placed in columns by dependency depth, arrows from each dependency, colour by state.
import type { SubtaskJson } from '../../serialize.ts';

const W = 150;
const H = 46;
const GX = 40;
const GY = 14;

/** Column of each step: 0 for roots, else one more than its deepest dependency. */
function depths(steps: SubtaskJson[]): Map<string, number> {
  const byKey = new Map(steps.map((s) => [s.key, s]));
  const memo = new Map<string, number>();
  const depth = (key: string, seen: Set<string>): number => {
    const known = memo.get(key);
    if (known !== undefined) return known;
    if (seen.has(key)) return 0;
    seen.add(key);
    const s = byKey.get(key);
    const d = s && s.dependsOn.length ? 1 + Math.max(...s.dependsOn.map((k) => depth(k, seen))) : 0;
    memo.set(key, d);
    return d;
  };
  for (const s of steps) depth(s.key, new Set());
  return memo;
}

export function PlanGraph({ steps }: { steps: SubtaskJson[] }) {
  const d = depths(steps);
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number }>();
  for (const s of steps) {
    const col = d.get(s.key) ?? 0;
    const row = rows.get(col) ?? 0;
    rows.set(col, row + 1);
    pos.set(s.key, { x: col * (W + GX) + 4, y: row * (H + GY) + 4 });
  }
  const width = Math.max(...[...pos.values()].map((p) => p.x + W), W) + 8;
  const height = Math.max(...[...pos.values()].map((p) => p.y + H), H) + 8;
  const label = steps
    .map((s) => `${s.key} (${s.capability}) ${s.status}${s.dependsOn.length ? ` after ${s.dependsOn.join(', ')}` : ''}`)
    .join('; ');
  return (
    <div class="graph-wrap">
      <svg
        class="graph"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Plan: ${label}`}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill="#888" />
          </marker>
        </defs>
        {steps.flatMap((s) =>
          s.dependsOn.map((dep) => {
            const a = pos.get(dep);
            const b = pos.get(s.key);
            if (!a || !b) return null;
            return (
              <line
                key={`${dep}-${s.key}`}
                x1={a.x + W}
                y1={a.y + H / 2}
                x2={b.x - 2}
                y2={b.y + H / 2}
                stroke="#888"
                marker-end="url(#arrow)"
              />
            );
          }),
        )}
        {steps.map((s) => {
          const p = pos.get(s.key)!;
          return (
            <g key={s.key} class={`node ${s.status.toLowerCase()}`} data-step={s.key} data-status={s.status}>
              <rect x={p.x} y={p.y} width={W} height={H} rx={6} />
              <text x={p.x + 8} y={p.y + 18}>
                {s.key.length > 18 ? `${s.key.slice(0, 17)}…` : s.key}
              </text>
              <text x={p.x + 8} y={p.y + 36} class="sub">
                {s.capability} · {s.status}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
