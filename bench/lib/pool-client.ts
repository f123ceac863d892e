// Drives one bench/worker-pool.ts child over IPC.
import type { ChildProcess } from 'node:child_process';
import type { PoolCommand, PoolMessage, RuntimeSpec } from '../worker-pool.ts';
import type { BenchEnv } from './env.ts';

/** A forked pool process hosting WorkerRuntime instances. */
export class PoolClient {
  readonly child: ChildProcess;
  private readonly waiting: Array<{ t: PoolMessage['t']; resolve: (m: PoolMessage) => void }> = [];
  private readonly reportListeners = new Set<(m: Extract<PoolMessage, { t: 'reports' }>) => void>();

  constructor(
    private readonly env: BenchEnv,
    prefix: string,
  ) {
    this.child = env.forkPool(prefix);
    this.child.on('message', (m: PoolMessage) => {
      if (m.t === 'reports') {
        for (const l of this.reportListeners) l(m);
        return;
      }
      const i = this.waiting.findIndex((w) => w.t === m.t);
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m);
    });
  }

  /** Starts runtimes; resolves with the pool's runtime count and RSS once they are all started. */
  add(specs: RuntimeSpec[]): Promise<Extract<PoolMessage, { t: 'added' }>> {
    return this.request({ t: 'add', specs }, 'added') as Promise<Extract<PoolMessage, { t: 'added' }>>;
  }

  /** Receives progress reports from `bench.progress` handlers. */
  onReports(fn: (m: Extract<PoolMessage, { t: 'reports' }>) => void): void {
    this.reportListeners.add(fn);
  }

  /** Stops every runtime gracefully, then makes sure the process is gone (by pid). */
  async stop(): Promise<void> {
    if (this.child.connected) {
      await Promise.race([this.request({ t: 'stop' }, 'stopped'), new Promise((r) => setTimeout(r, 15_000))]).catch(
        () => {},
      );
    }
    await this.env.stopChild(this.child, 5000);
  }

  private request(cmd: PoolCommand, reply: PoolMessage['t']): Promise<PoolMessage> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error(`worker pool ${this.child.pid} exited`));
      this.child.once('exit', onExit);
      this.waiting.push({
        t: reply,
        resolve: (m) => {
          this.child.off('exit', onExit);
          resolve(m);
        },
      });
      this.child.send(cmd);
    });
  }
}
