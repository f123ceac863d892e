// The commands that run hub or worker processes; they load src/main.ts only when used.
import { InvalidArgumentError, type Command } from 'commander';
import { reportError } from './run-action.ts';

/** Runs a process entry point; a startup failure prints its message and exits 1 (open connections would keep us alive). */
async function runProcess(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    reportError(err);
    process.exit(1);
  }
}

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of 1 or more.`);
    return n;
  };
}

/** Adds `start`, `hub`, `worker` and `migrate`. */
export function registerProcessCommands(program: Command): void {
  program
    .command('start')
    .description('run everything in one process: API, conductor, notifier and embedded workers')
    .action(() => runProcess(async () => (await import('../main.ts')).runStart()));

  program
    .command('hub')
    .description('run the hub (API, conductor, reconciler, notifier) without workers')
    .action(() => runProcess(async () => (await import('../main.ts')).runHub()));

  program
    .command('worker')
    .description('run a stateless worker that needs only Redis')
    .option(
      '--capabilities <patterns>',
      'comma-separated capability patterns, e.g. "web.*,llm.summarize" (default WORKER_CAPABILITIES)',
    )
    .option('--concurrency <n>', 'jobs run at once (default WORKER_CONCURRENCY)', positiveInt('--concurrency'))
    .option(
      '--metrics-port <port>',
      'serve GET /metrics on this port (default WORKER_METRICS_PORT; off)',
      positiveInt('--metrics-port'),
    )
    .action((opts: { capabilities?: string; concurrency?: number; metricsPort?: number }) =>
      runProcess(async () => (await import('../main.ts')).runWorker(opts)),
    );

  program
    .command('worker-health')
    .description('exit 0 if a worker of this host is registered in Redis (a container healthcheck)')
    .action(async () => {
      process.exitCode = (await (await import('./worker-health.ts')).workerHealthy()) ? 0 : 1;
    });

  program
    .command('migrate')
    .description('apply pending database migrations and exit')
    .action(() => runProcess(async () => (await import('../main.ts')).runMigrate()));
}
