// Demo capabilities: echo, long work with item progress, flaky, and always-failing.
import { z } from 'zod';
import { type Capability, defineCapability } from '../../define-capability.ts';

/** Resolves after `ms`, or rejects when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const text = z.string().max(100_000).optional().describe('the request text');

/** Echoes its input text; a join step also returns every dependency's output. */
const echo = defineCapability({
  name: 'demo.echo',
  description: 'Echoes the text back (with the outputs of the steps it depends on); for trying the pipeline.',
  input: z.object({ text, part: z.union([z.string(), z.number()]).optional(), join: z.boolean().optional() }),
  async handler({ input, deps }) {
    return { text: input.text ?? '', part: input.part ?? null, ...(Object.keys(deps).length ? { from: deps } : {}) };
  },
});

/** Long work: `items` items spread over `durationMs`, reporting item progress. */
const sleepWork = defineCapability({
  name: 'demo.sleep',
  description: 'Simulates long work: processes N items over a duration, reporting progress as it goes.',
  input: z.object({
    text,
    items: z.number().int().min(1).max(1_000_000).default(2000),
    durationMs: z.number().int().min(0).max(3_600_000).default(5000),
  }),
  async handler({ input, signal, progress }) {
    const { items, durationMs } = input;
    const steps = Math.min(items, 50);
    progress.stage('working', items);
    for (let i = 1; i <= steps; i++) {
      await sleep(durationMs / steps, signal);
      const done = Math.round((items * i) / steps);
      progress.items(done, items);
      progress.message(`processed ${done} of ${items} items`);
    }
    return { items, durationMs };
  },
});

/** Fails its first `failures` attempts, then succeeds. */
const flaky = defineCapability({
  name: 'demo.flaky',
  description: 'Fails its first N attempts, then succeeds; for trying retries.',
  input: z.object({ text, failures: z.number().int().min(0).max(100).default(2) }),
  async handler({ input, attempt }) {
    if (attempt <= input.failures) {
      throw new Error(`flaky failure on attempt ${attempt} (fails the first ${input.failures})`);
    }
    return { attempt, failures: input.failures };
  },
});

/** Fails every attempt, unless an admin reprocesses it with the input `{"fixed": true}`. */
const fail = defineCapability({
  name: 'demo.fail',
  description: 'Always fails (unless reprocessed with {"fixed": true}); for trying dead letters.',
  input: z.object({ text, fixed: z.boolean().optional() }),
  async handler({ input }) {
    if (input.fixed === true) return { fixed: true };
    throw new Error('demo.fail always fails (reprocess it with input {"fixed": true} to make it succeed)');
  },
});

/** The demo capabilities. */
export const demoCapabilities: Capability[] = [echo, sleepWork, flaky, fail];
