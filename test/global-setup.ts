// Makes sure the suite has a real Redis and knows which Postgres to use, before any test file runs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';

let redisChild: ChildProcess | undefined;

async function reachable(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export async function setup(): Promise<void> {
  // The CLI tests run bin/switchboard.js, which runs the compiled dist/: rebuild it when the sources are newer.
  execFileSync(process.execPath, [fileURLToPath(new URL('../bin/build-if-stale.js', import.meta.url))], {
    stdio: 'inherit',
  });
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (await reachable(redisUrl)) {
    process.env.TEST_REDIS_URL = redisUrl;
  } else {
    // No Redis at hand: start a private one from PATH, as the hub does in embedded mode.
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-test-redis-'));
    redisChild = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    );
    redisChild.on('error', () => {});
    const url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && !(await reachable(url)); i++) await new Promise((r) => setTimeout(r, 50));
    if (!(await reachable(url)))
      throw new Error('Tests need Redis: set TEST_REDIS_URL, or install redis-server (apt-get install redis-server).');
    process.env.TEST_REDIS_URL = url;
  }
  const dbUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new pg.Client({ connectionString: dbUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    process.env.TEST_DATABASE_URL = dbUrl;
  } catch {
    // No Postgres server: the suite runs on PGlite (real Postgres compiled to WASM), one per test file.
    process.env.TEST_DATABASE_URL = '';
    console.warn(
      `[tests] Postgres not reachable at ${dbUrl}; using in-memory PGlite. Set TEST_DATABASE_URL to use a server.`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

export async function teardown(): Promise<void> {
  redisChild?.kill('SIGTERM');
}
