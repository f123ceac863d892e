// The worker SDK as a user gets it: `npm pack` the project, install the tarball into a scratch project, declare a
// capability there (in its own file, typed against the shipped .d.ts), run it with startWorker, and complete a task
// through a hub started here.
//
// Offline install: the scratch project gets a lockfile that pins every dependency at the version of our own
// lockfile, so `npm ci --offline` finds each one in the npm cache (a fresh resolve would pick newer versions the
// offline cache may not hold, and would need the network).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listLiveWorkers } from '../src/core/worker-registry.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

let dir: string;
let project: string;
let tarball: string;
let packedFiles: string[] = [];
let h: Harness;
let worker: ChildProcess | undefined;
let workerOutput = '';

const npm = (args: string[], cwd: string) =>
  run('npm', args, {
    cwd,
    maxBuffer: 20 * 1024 * 1024,
    timeout: 150_000,
    // npm runs on this Node (first on PATH), whatever `node` the machine has.
    env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` },
  });

/** package.json and a lockfile for the scratch project: our production dependencies at our locked versions. */
function writeScratchProject(tgzName: string): void {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const dependencies = { switchboard: `file:../${tgzName}` };
  const packages: Record<string, unknown> = { '': { name: 'scratch', dependencies } };
  for (const [key, entry] of Object.entries<any>(lock.packages)) if (key !== '' && !entry.dev) packages[key] = entry;
  packages['node_modules/switchboard'] = {
    version: pkg.version,
    resolved: `file:../${tgzName}`,
    dependencies: pkg.dependencies,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies }, null, 2),
  );
  writeFileSync(
    path.join(project, 'package-lock.json'),
    JSON.stringify({ name: 'scratch', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}

// The user's own code: a capability in its own file, and a worker entry point. Node 24 runs .ts files directly.
const CAPABILITY = `import { defineCapability, z, UnrecoverableError } from 'switchboard/worker';

export const reverse = defineCapability({
  name: 'text.reverse',
  description: 'Reverses a text, letter by letter.',
  input: z.object({ text: z.string().min(1), times: z.number().int().min(1).max(3).default(1) }),
  handler: async ({ input, progress, job }) => {
    const text: string = input.text; // typed from the schema
    if (text === 'boom') throw new UnrecoverableError('no booms');
    progress.stage('reversing', 1);
    progress.items(1);
    return { reversed: [...text].reverse().join(''), times: input.times, by: job.capability };
  },
});
`;
const WORKER = `import { startWorker, type WorkerHandle } from 'switchboard/worker';
import { reverse } from './capabilities/reverse.ts';

const worker: WorkerHandle = await startWorker({
  capabilities: [reverse],
  redisUrl: process.env.REDIS_URL,
  prefix: process.env.QUEUE_PREFIX,
  concurrency: 2,
  logLevel: 'warn',
});
console.log(\`ready \${worker.id} \${worker.specs.map((s) => s.name).join(',')}\`);
process.on('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
`;
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
  },
  include: ['*.ts', 'capabilities/*.ts'],
};

beforeAll(async () => {
  // A tmpfs when there is one: the install writes (and the clean-up removes) a few thousand files.
  dir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sb-sdk-'));
  project = path.join(dir, 'scratch');
  mkdirSync(path.join(project, 'capabilities'), { recursive: true });
  // dist/ is fresh (the global setup rebuilds it when stale); pack what `npm publish` would ship.
  const packed = JSON.parse(
    (await npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)).stdout,
  );
  tarball = path.join(dir, packed[0].filename);
  packedFiles = packed[0].files.map((f: { path: string }) => f.path);
  writeScratchProject(packed[0].filename);
  await npm(['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project);
  writeFileSync(path.join(project, 'capabilities', 'reverse.ts'), CAPABILITY);
  writeFileSync(path.join(project, 'worker.ts'), WORKER);
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  h = await createHarness({ workers: false });
}, 240_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const exited = new Promise((r) => worker!.once('exit', r));
    worker.kill('SIGTERM');
    await exited;
  }
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('switchboard/worker from the packed tarball', () => {
  it('ships the compiled code and types only: no tests, benchmarks or TypeScript sources', () => {
    expect(packedFiles).toContain('dist/src/worker-sdk.js');
    expect(packedFiles).toContain('dist/src/worker-sdk.d.ts');
    expect(packedFiles).toContain('dist/migrations/0001-initial.js');
    expect(packedFiles).toContain('bin/switchboard.js');
    expect(packedFiles.filter((f) => /^(test|bench|src|migrations)\//.test(f))).toEqual([]);
    expect(packedFiles.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    const installed = JSON.parse(readFileSync(path.join(project, 'node_modules/switchboard/package.json'), 'utf8'));
    expect(installed.dependencies.tsx).toBeUndefined();
  });

  it('`npx switchboard --help` runs the compiled build, with no tsx installed', async () => {
    expect(existsSync(path.join(project, 'node_modules', 'tsx'))).toBe(false);
    const help = await run(path.join(project, 'node_modules', '.bin', 'switchboard'), ['--help'], {
      cwd: project,
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` },
    });
    expect(help.stdout).toMatch(/^Usage: switchboard \[options\] \[command\]/);
    const version = await run(path.join(project, 'node_modules', '.bin', 'switchboard'), ['--version'], {
      cwd: project,
      env: { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` },
    });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('type-checks the user project against the shipped declarations', async () => {
    await expect(run(process.execPath, [TSC, '-p', project], { cwd: project })).resolves.toBeTruthy();
    // A wrong use is caught: the handler's input is typed by the schema.
    writeFileSync(
      path.join(project, 'capabilities', 'wrong.ts'),
      `import { defineCapability, z } from 'switchboard/worker';
export const wrong = defineCapability({ name: 'x.y', description: 'd', input: z.object({ n: z.number() }),
  handler: async ({ input }) => input.n.toUpperCase() });\n`,
    );
    const failed = await run(process.execPath, [TSC, '-p', project], { cwd: project }).catch((e) => e);
    rmSync(path.join(project, 'capabilities', 'wrong.ts'));
    expect(String(failed.stdout)).toMatch(/toUpperCase/);
  }, 60_000);

  it("completes a task through the hub with the project's own capability, advertised with its schema", async () => {
    worker = spawn(process.execPath, ['worker.ts'], {
      cwd: project,
      env: { ...process.env, REDIS_URL: h.env.config.REDIS_URL, QUEUE_PREFIX: h.env.prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (d) => (workerOutput += d));
    worker.stderr!.on('data', (d) => (workerOutput += d));
    const ready = await new Promise<string>((resolve, reject) => {
      worker!.stdout!.on('data', () => {
        const m = /ready (\S+) (\S+)/.exec(workerOutput);
        if (m) resolve(m[1]!);
      });
      worker!.once('exit', (code) => reject(new Error(`worker exited ${code}: ${workerOutput}`)));
    });
    const live = await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys);
    const me = live.find((w) => w.id === ready);
    expect(me?.specs).toEqual([
      {
        name: 'text.reverse',
        description: 'Reverses a text, letter by letter.',
        inputSchema: expect.objectContaining({
          type: 'object',
          properties: expect.objectContaining({ text: expect.objectContaining({ type: 'string' }) }),
          required: ['text'],
        }),
      },
    ]);

    const task = await h.submit('use text.reverse: switchboard');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' || t.status === 'FAILED', 30_000);
    expect(done.status).toBe('COMPLETED');
    expect(JSON.stringify(done.result)).toContain('draobhctiws');

    const boom = await h.submit('use text.reverse: boom');
    const failed = await h.waitForTask(boom.id, (t) => t.status === 'FAILED', 30_000);
    expect(failed.error).toMatch(/no booms/);
  }, 60_000);
});
