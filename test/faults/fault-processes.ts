// The hub and workers of the fault suite as child processes: started with an environment, their log lines kept with
// the time they arrived, killed with SIGKILL (the faults) or SIGTERM, and all stopped at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exited, track } from './fault-servers.ts';

/** A log line of a child process and when it arrived (Date.now()). */
export interface LogLine {
  at: number;
  text: string;
}

/** A running child process and the lines it printed (stdout and stderr). */
export class ChildProc {
  readonly lines: LogLine[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.on('data', (d) => {
        const parts = (rest + String(d)).split('\n');
        rest = parts.pop() ?? '';
        for (const text of parts) this.lines.push({ at: Date.now(), text });
        for (const l of [...this.listeners]) l();
      });
    }
  }

  /** Resolves with the first line matching `re` (past or future); rejects if the process exits first. */
  waitForLine(re: RegExp, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error, line?: string) => {
        this.listeners.delete(check);
        this.child.off('exit', onExit);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(line!);
      };
      const check = () => {
        const hit = this.lines.find((l) => re.test(l.text));
        if (hit) done(undefined, hit.text);
      };
      const onExit = (code: number | null) =>
        done(new Error(`${this.name} exited (${code}) before printing ${re}:\n${this.tail()}`));
      const timer = setTimeout(() => done(new Error(`${this.name}: no ${re} within ${timeoutMs} ms`)), timeoutMs);
      this.listeners.add(check);
      this.child.once('exit', onExit);
      check();
    });
  }

  /** Lines that arrived in [from, to). */
  linesBetween(from: number, to: number): LogLine[] {
    return this.lines.filter((l) => l.at >= from && l.at < to);
  }

  /** How many warnings and errors (pino levels 40 to 60) arrived in [from, to). */
  warnings(from: number, to: number): number {
    return this.linesBetween(from, to).filter((l) => /"level":[456]0\b/.test(l.text)).length;
  }

  /** The last lines (each cut to 300 characters), for failure messages. */
  tail(n = 10): string {
    return this.lines
      .slice(-n)
      .map((l) => l.text.slice(0, 300))
      .join('\n');
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** `kill -9`, resolved once it is gone. */
  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await exited(this.child);
  }

  /** SIGTERM (graceful stop), then SIGKILL if it is still running after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited(this.child);
    clearTimeout(timer);
  }
}

/** Starts hubs and workers sharing one environment; `stopAll()` ends every process it started. */
export class FaultProcesses {
  readonly all: ChildProc[] = [];

  constructor(private readonly env: Record<string, string>) {}

  private spawn(name: string, args: string[], extra: Record<string, string>): ChildProc {
    const child = track(
      spawn(process.execPath, args, {
        env: { ...process.env, LOG_FORMAT: 'json', ...this.env, ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const proc = new ChildProc(`${name} ${child.pid}`, child);
    this.all.push(proc);
    return proc;
  }

  /** A hub process (test/faults/fault-hub.ts); resolves once it serves. */
  async hub(extra: Record<string, string> = {}): Promise<ChildProc> {
    const hub = this.spawn(
      'hub',
      ['--experimental-transform-types', '--no-warnings', 'test/faults/fault-hub.ts'],
      extra,
    );
    await hub.waitForLine(/^ready /, 60_000);
    return hub;
  }

  /** A `switchboard worker` process (the built package) for `demo.*`; resolves once it consumes its queues. */
  async worker(extra: Record<string, string> = {}, concurrency = 16): Promise<ChildProc> {
    const args = ['bin/switchboard.js', 'worker', '--capabilities', 'demo.*', '--concurrency', String(concurrency)];
    const w = this.spawn('worker', args, { LOG_LEVEL: 'info', ...extra });
    await w.waitForLine(/worker started/, 30_000);
    return w;
  }

  /** SIGKILLs every process still running; with FAULT_LOGS=<dir> set, their logs are written there first. */
  async stopAll(label = 'fault'): Promise<void> {
    await Promise.all(this.all.map((p) => p.kill9()));
    const dir = process.env.FAULT_LOGS;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    for (const p of this.all)
      writeFileSync(path.join(dir, `${label}-${p.name.replace(' ', '-')}.log`), p.lines.map((l) => l.text).join('\n'));
  }
}
