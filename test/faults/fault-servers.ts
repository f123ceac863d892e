// Private Redis and Postgres servers for the fault suite: each its own process, port and data directory, so a test
// can kill, flush or restart them without touching the shared services.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { freePort } from '../../src/embedded-redis.ts';

/** Resolves once `probe` succeeds (it is retried every 50 ms), or rejects after `timeoutMs`. */
async function untilUp(probe: () => Promise<unknown>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** Keeps `child` in the set killed when this process exits (a test run cut short leaves no server or hub behind). */
export function track(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** A private redis-server with AOF (`appendfsync always`), restartable on the same port from the same directory. */
export class PrivateRedis {
  private child?: ChildProcess;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts a server on a free port with its own data directory. */
  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), mkdtempSync(path.join(tmpdir(), 'sb-fault-redis-')));
    await r.start();
    return r;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** (Re)starts the server; with AOF on it loads what it had written. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction');
    this.child = track(spawn('redis-server', args, { stdio: 'ignore' }));
    this.child.on('error', () => {});
    await untilUp(() => this.command((r) => r.ping()), 10_000, 'redis-server');
  }

  /** Runs one command on a short-lived connection. */
  async command<T>(run: (r: Redis) => Promise<T>): Promise<T> {
    const r = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return await run(r);
    } finally {
      r.disconnect();
    }
  }

  /** `kill -9`: the server dies at once; what AOF has is what a restart gets back. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c) return;
    c.kill('SIGKILL');
    await exited(c);
  }

  /** Kills the server (if running) and removes its directory. */
  async close(): Promise<void> {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The Postgres binaries directory (the newest installed), or undefined when there is none. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => path.join(root, v, 'bin')).find((d) => existsSync(path.join(d, 'initdb')));
}

/** initdb and postgres refuse to run as root: run them as the `postgres` user then (setpriv execs, so pids are real). */
function asPostgresUser(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [cmd, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', cmd, ...args]];
}

/** A private Postgres cluster (trust auth, fsync off) in a temp directory on a free port; restartable. */
export class PrivatePostgres {
  private child?: ChildProcess;

  private constructor(
    readonly bin: string,
    readonly port: number,
    readonly dir: string,
  ) {}

  /** initdb + start. */
  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBinDir();
    if (!bin) throw new Error('no Postgres binaries under /usr/lib/postgresql');
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-fault-pg-'));
    if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), 0);
    const [cmd, args] = asPostgresUser(path.join(bin, 'initdb'), [
      '-D',
      path.join(dir, 'data'),
      '-A',
      'trust',
      '-U',
      'postgres',
    ]);
    execFileSync(cmd, args, { stdio: 'ignore' });
    const p = new PrivatePostgres(bin, await freePort(), dir);
    await p.start();
    return p;
  }

  /** A URL for database `db` on this cluster. */
  url(db = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${db}`;
  }

  /** Starts the server and waits until it answers. */
  async start(): Promise<void> {
    const [cmd, args] = asPostgresUser(path.join(this.bin, 'postgres'), [
      '-D',
      path.join(this.dir, 'data'),
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=100',
    ]);
    this.child = track(spawn(cmd, args, { stdio: 'ignore' }));
    this.child.on('error', () => {});
    await untilUp(() => this.query('select 1'), 15_000, 'postgres');
  }

  /** Runs one statement on a short-lived connection. */
  async query(sql: string, params: unknown[] = [], db = 'postgres'): Promise<pg.QueryResult> {
    const c = new pg.Client({ connectionString: this.url(db), connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    try {
      await c.connect();
      return await c.query(sql, params);
    } finally {
      await c.end().catch(() => {});
    }
  }

  /** Stops the server with a fast shutdown (SIGINT: every session is terminated, as in `pg_ctl restart -m fast`). */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGINT');
    await exited(c);
  }

  /** Stops the server and removes the cluster. */
  async close(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null) {
      c.kill('SIGKILL');
      await exited(c);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
