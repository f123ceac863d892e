// Demo capabilities: echo, long work with item progress, flaky, and always-failing.
import type { CapabilityHandlers, HandlerContext } from '../capability.ts';

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

/** Echoes its input text; a join step also returns every dependency's output. */
async function echo({ input, deps }: HandlerContext<{ text?: string; part?: unknown; join?: boolean }>) {
  return { text: input?.text ?? '', part: input?.part ?? null, ...(Object.keys(deps).length ? { from: deps } : {}) };
}

/** Long work: `items` items spread over `durationMs`, reporting item progress. */
async function sleepWork({ input, signal, progress }: HandlerContext<{ items?: number; durationMs?: number }>) {
  const items = Math.max(1, Math.min(Number(input?.items ?? 2000), 1_000_000));
  const durationMs = Math.max(0, Math.min(Number(input?.durationMs ?? 5000), 3_600_000));
  const steps = Math.min(items, 50);
  progress.stage('working', items);
  for (let i = 1; i <= steps; i++) {
    await sleep(durationMs / steps, signal);
    const done = Math.round((items * i) / steps);
    progress.items(done, items);
    progress.message(`processed ${done} of ${items} items`);
  }
  return { items, durationMs };
}

/** Fails its first `failures` attempts, then succeeds. */
async function flaky({ input, attempt }: HandlerContext<{ failures?: number }>) {
  const failures = Number(input?.failures ?? 2);
  if (attempt <= failures) throw new Error(`flaky failure on attempt ${attempt} (fails the first ${failures})`);
  return { attempt, failures };
}

/** Fails every attempt, unless an admin reprocesses it with the input `{"fixed": true}`. */
async function fail({ input }: HandlerContext<{ fixed?: boolean }>) {
  if (input?.fixed === true) return { fixed: true };
  throw new Error('demo.fail always fails (reprocess it with input {"fixed": true} to make it succeed)');
}

/** The demo capabilities by name. */
export const demoCapabilities: CapabilityHandlers = {
  'demo.echo': echo,
  'demo.sleep': sleepWork,
  'demo.flaky': flaky,
  'demo.fail': fail,
};
