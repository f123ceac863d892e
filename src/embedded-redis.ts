// Starts a private redis-server (AOF on, data under the data dir) when REDIS_URL is not set.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ConfigError } from './core/errors.ts';

/** A running embedded Redis. */
export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the fault suite's private servers use it too). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Starts `redis-server` from PATH on a free loopback port; resolves once it answers PING. */
export async function startEmbeddedRedis(dataDir: string): Promise<EmbeddedRedis> {
  const dir = path.resolve(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new ConfigError(
              'REDIS_URL is not set and no redis-server was found on PATH. Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL=redis://host:6379.',
            )
          : err,
      ),
    ),
  );
  spawnError.catch(() => {});
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(
        new ConfigError(`The embedded redis-server exited at start (code ${code}). Check ${dir} or set REDIS_URL.`),
      ),
    ),
  );
  exited.catch(() => {});
  const url = `redis://127.0.0.1:${port}`;
  const ready = (async () => {
    for (let i = 0; i < 200; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      // Refused connections are expected while the server boots: connect() reports them, not an unhandled event.
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
    throw new ConfigError('The embedded redis-server did not answer within 10 s.');
  })();
  await Promise.race([ready, spawnError, exited]);
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  return {
    url,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}
