// `npm start` with no DATABASE_URL/REDIS_URL: embedded PGlite + a private redis-server; serves /ready and completes a task.
import { execFile, execSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let hub: ChildProcess;
let dataDir: string;
let url: string;
let output = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of [
    'DATABASE_URL',
    'REDIS_URL',
    'HUB_API_TOKENS',
    'HUB_ADMINS',
    'SWITCHBOARD_URL',
    'SWITCHBOARD_TOKEN',
    'QUEUE_PREFIX',
  ])
    delete env[k];
  return { ...env, ...extra };
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sb-smoke-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  hub = spawn('npm', ['start'], {
    env: cleanEnv({ DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hub.stdout!.on('data', (d) => {
    output += d;
  });
  hub.stderr!.on('data', (d) => {
    output += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start within 60 s:\n${output}`)), 60_000);
    hub.stdout!.on('data', () => {
      if (output.includes('Switchboard is running at')) {
        clearTimeout(timer);
        resolve();
      }
    });
    hub.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited with ${code}:\n${output}`));
    });
  });
}, 90_000);

afterAll(async () => {
  if (hub && hub.exitCode === null) process.kill(-hub.pid!, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start on the embedded default', () => {
  it('prints the REDIS_URL workers use, with no connection noise while the embedded Redis boots', () => {
    expect(output).toMatch(/Add a worker: +REDIS_URL=redis:\/\/127\.0\.0\.1:\d+ npx switchboard worker/);
    expect(output).not.toMatch(/Unhandled error event|ECONNREFUSED/);
  });

  it('a second hub on the same DATA_DIR exits at once, naming the first one', async () => {
    const port = new URL(url).port;
    const second = await run(process.execPath, ['bin/switchboard.js', 'start'], {
      env: cleanEnv({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn' }),
      timeout: 20_000,
    }).catch((err: { code: number; stderr: string }) => err);
    expect((second as { code?: number }).code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^Another hub \\(pid \\d+, port ${port}\\) is already using DATA_DIR=`));
    expect((await fetch(`${url}/health`)).status).toBe(200); // the first one is unharmed
  });

  it('serves /health and /ready', async () => {
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(200);
  });

  it('completes a task submitted with the CLI (submit --follow), using the local token the hub wrote', async () => {
    expect(readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim().length).toBeGreaterThan(20);
    const { stdout } = await run(
      process.execPath,
      ['bin/switchboard.js', 'submit', 'hello from the smoke test', '--follow'],
      {
        env: cleanEnv({ DATA_DIR: dataDir, SWITCHBOARD_URL: url }),
        timeout: 60_000,
      },
    );
    expect(stdout).toMatch(/completed/i);
    expect(stdout).toContain('hello from the smoke test');
  }, 90_000);

  it('stops cleanly on SIGTERM, taking its redis-server with it', async () => {
    const exit = new Promise<number | null>((r) => hub.once('exit', (code) => r(code)));
    // Signal the hub's own node process, as a process manager would; npm itself reports 143 for any SIGTERM it receives.
    const pid = execSync(`pgrep -g ${hub.pid} -f "^node bin/switchboard.js start"`).toString().trim().split('\n')[0]!;
    const redisPid = Number(execSync(`pgrep -P ${pid} redis-server`).toString().trim());
    expect(redisPid).toBeGreaterThan(0);
    process.kill(Number(pid), 'SIGTERM');
    expect(await exit).toBe(0);
    expect(() => process.kill(redisPid, 0)).toThrow(); // the embedded redis-server is gone too
  }, 30_000);
});
