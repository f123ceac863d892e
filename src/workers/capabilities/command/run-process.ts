// Runs one program in its own process group: captured output tails, progress lines, timeout and cancel kill the group.
import { spawn } from 'node:child_process';
import type { ProgressTracker } from '../../progress-tracker.ts';

/** How to run a process. */
export interface RunOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  killGraceMs: number;
  maxOutputBytes: number;
  signal: AbortSignal;
  progress: ProgressTracker;
  /** Called with the pid once the process runs. */
  onSpawn?: (pid: number) => void;
}

/** How a process ended. */
export interface RunOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  aborted: boolean;
}

/** Keeps the last `max` bytes written to it. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.max && this.chunks.length > 1) {
      this.size -= this.chunks.shift()!.length;
      this.truncated = true;
    }
  }
  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.max) {
      buf = buf.subarray(buf.length - this.max);
      this.truncated = true;
    }
    return (this.truncated ? '…' : '') + buf.toString('utf8');
  }
}

const PROGRESS = /^PROGRESS\s+(\d+)\s*\/\s*(\d+)(?:\s+(.*))?$/;

/** Feeds `PROGRESS <done>/<total> [message]` and `{"progress": …}` lines to the tracker; false for other lines. */
export function progressLine(line: string, progress: ProgressTracker): boolean {
  const m = PROGRESS.exec(line.trim());
  if (m) {
    progress.items(Number(m[1]), Number(m[2]));
    if (m[3]) progress.message(m[3]);
    return true;
  }
  if (!line.trimStart().startsWith('{"progress"')) return false;
  try {
    const p = (JSON.parse(line) as { progress: unknown }).progress;
    if (typeof p === 'number') progress.items(p <= 1 ? Math.round(p * 100) : Math.round(p), 100);
    else if (p && typeof p === 'object') {
      const o = p as { stage?: unknown; done?: unknown; total?: unknown; message?: unknown };
      if (typeof o.stage === 'string') progress.stage(o.stage, typeof o.total === 'number' ? o.total : undefined);
      if (typeof o.done === 'number') progress.items(o.done, typeof o.total === 'number' ? o.total : undefined);
      if (typeof o.message === 'string') progress.message(o.message);
    } else return false;
    return true;
  } catch {
    return false;
  }
}

/** Runs the program (no shell) and resolves when it and its process group are done. */
export function runProcess(o: RunOptions): Promise<RunOutcome> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (o.signal.aborted) {
      reject(o.signal.reason);
      return;
    }
    const child = spawn(o.argv[0]!, o.argv.slice(1), {
      cwd: o.cwd,
      env: o.env,
      detached: true, // its own process group, so the whole tree can be signalled
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
    });
    const out = new Tail(o.maxOutputBytes);
    const err = new Tail(o.maxOutputBytes);
    let partial = '';
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const stop = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), o.killGraceMs);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, o.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    if (child.pid) o.onSpawn?.(child.pid);
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > 10_000) partial = '';
      for (const line of lines) progressLine(line, o.progress);
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, sig) => {
      if (partial) progressLine(partial, o.progress);
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      // The leader is gone; make sure nothing of its group outlives it (a grandchild ignoring SIGTERM).
      if (timedOut || aborted) {
        killGroup('SIGKILL');
        if (killTimer) clearTimeout(killTimer);
      } else killGroup('SIGTERM');
      resolve({
        exitCode: code,
        signal: sig,
        stdout: out.text(),
        stderr: err.text(),
        durationMs: Date.now() - started,
        timedOut,
        aborted,
      });
    });
  });
}
