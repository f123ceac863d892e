// Runs scenario 6 in a process of its own (forked by bench/run.ts, as a bundle: lib/bundle.ts), so the RSS sampled is
// that of a process running the compiled hub, not of one that also ran the earlier scenarios or holds tsx.
import { startBenchHub } from './lib/bench-hub.ts';
import { BenchEnv } from './lib/env.ts';
import { debug } from './lib/stats.ts';
import { runScale, type InFlightMemory, type ScaleOptions, type ScaleResult } from './scenarios/scale.ts';

/** Parent -> child. */
export type ScaleCommand = { t: 'run'; opts: ScaleOptions };
/** Child -> parent. */
export type ScaleReply =
  | { t: 'result'; result: ScaleResult }
  | { t: 'in-flight'; memory: InFlightMemory }
  | { t: 'error'; message: string };

const env = new BenchEnv('scale');
process.once('message', (cmd: ScaleCommand) => {
  void (async () => {
    debug('scale child: starting hub');
    const h = await startBenchHub(env, 'scale');
    try {
      const result = await runScale(env, h, cmd.opts, (memory) =>
        process.send?.({ t: 'in-flight', memory } satisfies ScaleReply),
      );
      process.send?.({ t: 'result', result } satisfies ScaleReply);
    } finally {
      await h.close();
    }
  })()
    .catch((err) => process.send?.({ t: 'error', message: String(err?.stack ?? err) } satisfies ScaleReply))
    .finally(() => void env.cleanup().finally(() => process.exit(0)));
});
process.on('disconnect', () => {
  void env.cleanup().finally(() => process.exit(1));
});
