// `npm run bench:web`: fetch + extract time per page (web.fetch's code path: guarded undici client, robots.txt,
// charset decoding, Readability on linkedom, turndown) against the local fixture pages. Prints p50/p95/p99 per page.
//   --n=200   samples per page (the huge page takes n/10)
import { loadConfig } from '../src/core/config.ts';
import { fetchPage } from '../src/workers/capabilities/web/fetch-page.ts';
import { webClientFrom } from '../src/workers/capabilities/web/web-capabilities.ts';
import { FIXTURE_HOST, startWebFixtures } from '../test/fakes/web-fixtures.ts';
import { fmtLatency, summarize } from './lib/stats.ts';

const n = Number(process.argv.find((a) => a.startsWith('--n='))?.split('=')[1] ?? 200);
const fx = await startWebFixtures();
const config = loadConfig({ FETCH_ALLOW_HOSTS: FIXTURE_HOST, FETCH_HOST_DELAY_MS: '0' });
const client = webClientFrom(config, fx.resolver);
const pages: Array<[string, number]> = [
  ['/article', n],
  ['/bills/air', n],
  ['/latin', n],
  ['/data.json', n],
  ['/r/1', n],
  ['/huge', Math.max(5, Math.round(n / 10))],
];
const results: Record<string, ReturnType<typeof summarize>> = {};
const all: number[] = [];
try {
  for (const [path, count] of pages) {
    const url = `${fx.base}${path}`;
    await fetchPage(client, url, { maxChars: config.FETCH_MAX_CHARS }); // warm-up: robots.txt, connection, JIT
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await fetchPage(client, url, { maxChars: config.FETCH_MAX_CHARS });
      samples.push(performance.now() - t0);
    }
    results[path] = summarize(samples);
    if (path !== '/huge') all.push(...samples);
    process.stdout.write(`${path.padEnd(12)} ${fmtLatency(results[path]!)}\n`);
  }
  results['all but /huge'] = summarize(all);
  process.stdout.write(`${'all but huge'.padEnd(12)} ${fmtLatency(results['all but /huge']!)}\n`);
  process.stdout.write(`${JSON.stringify({ node: process.version, n, results })}\n`);
} finally {
  await client.close();
  await fx.close();
}
