// Summarises V8 .cpuprofile files (node --cpu-prof) by where the time went: self time per package or source
// file, and the top functions. Usage: tsx bench/profile-summary.ts <file.cpuprofile>... [--top=25]
// Profile the benchmark's hub:     node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/run.ts --only=1,4
// and its worker processes too:    BENCH_WORKER_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" (same command)
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The bucket a frame's time is charged to: a package, a source folder of this repo, or a V8/Node category. */
function bucketOf(url: string, fn: string): string {
  if (!url) return fn === '(garbage collector)' ? '(gc)' : fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/(src|bench|dist\/src)\/(.*)$/.exec(url);
  if (own) return `${own[1]}/${own[2]!.replace(/\/[^/]*$/, '') || '.'}/${own[2]!.split('/').pop()}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

const args = process.argv.slice(2);
const top = Number(args.find((a) => a.startsWith('--top='))?.split('=')[1] ?? 25);
for (const file of args.filter((a) => !a.startsWith('--'))) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const buckets = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      idle += functionName === '(idle)' ? us : 0;
      if (functionName === '(idle)') continue;
    }
    total += us;
    const b = bucketOf(url, functionName);
    buckets.set(b, (buckets.get(b) ?? 0) + us);
    const f = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    fns.set(f, (fns.get(f) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  process.stdout.write(
    `\n${file}: ${ms(total)} busy, ${ms(idle)} idle over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s\n`,
  );
  process.stdout.write('-- self time by package / file\n');
  for (const [b, us] of [...buckets].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${ms(us)} ${pct(us)}  ${b}\n`);
  process.stdout.write('-- self time by function\n');
  for (const [f, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${ms(us)} ${pct(us)}  ${f}\n`);
}
