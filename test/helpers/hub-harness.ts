// Starts a full hub (API, conductor, notifier, reconciler, optional embedded worker) on an isolated test env.
import type { Hub } from '../../src/main.ts';
import { startHub } from '../../src/main.ts';
import type { HubEvent } from '../../src/core/hub-context.ts';
import type { Planner } from '../../src/core/planning/plan.ts';
import type { FrontendFactory } from '../../src/frontends/frontend.ts';
import type { TaskRow } from '../../src/core/store/schema.ts';
import type { ConversationRef } from '../../src/core/types.ts';
import { builtinCapabilities } from '../../src/workers/capabilities/index.ts';
import type { CapabilityHandlers } from '../../src/workers/capability.ts';
import { createTestEnv, type TestEnv } from './test-env.ts';
import { RecordingFrontend } from './recording-frontend.ts';

/** A hub under test with a recording frontend named `test`. */
export interface Harness {
  env: TestEnv;
  hub: Hub;
  chat: RecordingFrontend;
  /** Every event the hub emitted, in order. */
  events: HubEvent[];
  origin(user?: string): ConversationRef;
  submit(text: string, user?: string): Promise<TaskRow>;
  /** Resolves with the task once `check` holds; re-evaluated on every hub event (no polling sleeps). */
  waitForTask(taskId: string, check: (t: TaskRow) => boolean, timeoutMs?: number): Promise<TaskRow>;
  /** Resolves with `probe()`'s first defined value; re-evaluated on every hub event. */
  until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs?: number, what?: string): Promise<T>;
  /** Resolves with the first event matching `pred` (past or future). */
  waitForEvent(pred: (e: HubEvent) => boolean, timeoutMs?: number): Promise<HubEvent>;
  close(): Promise<void>;
}

/** What a harness runs; by default no chat frontend (only the recording one), unless `frontendFactories` or `realFrontends`. */
export interface HarnessOptions {
  env?: Record<string, string>;
  /** false: no embedded worker (tests start their own). */
  workers?: boolean;
  handlers?: CapabilityHandlers;
  planner?: Planner;
  /** Chat frontends to run, built by these factories. */
  frontendFactories?: FrontendFactory[];
  /** Enables the chat frontends from the env vars exactly as production does (`frontendFactories` is then ignored). */
  realFrontends?: boolean;
}

const LOST_CONNECTION = /terminating connection|Connection terminated|ECONNRESET/;

/** Builds a harness. */
export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const env = await createTestEnv({ PORT: '0', WORKER_CAPABILITIES: 'demo.*,test.*', ...opts.env });
  const chat = new RecordingFrontend();
  const events: HubEvent[] = [];
  const listeners = new Set<() => void>();
  const hub = await startHub({
    config: env.config,
    database: env.database,
    embeddedWorkers: opts.workers ?? true,
    frontends: [chat],
    handlers: { ...builtinCapabilities(env.config), ...opts.handlers },
    planner: opts.planner,
    frontendFactories: opts.realFrontends ? undefined : (opts.frontendFactories ?? []),
  });
  hub.ctx.onEvents((evs) => {
    events.push(...evs);
    for (const l of [...listeners]) l();
  });

  const until = <T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        listeners.delete(onEvent);
        clearTimeout(timer);
        fn();
      };
      const onEvent = () => {
        void Promise.resolve(probe()).then(
          (v) => {
            if (v !== undefined) finish(() => resolve(v));
          },
          // A probe whose database connection was killed (the Postgres fault tests do that) asks again next event.
          (err) => {
            if (!LOST_CONNECTION.test(String((err as Error)?.message))) finish(() => reject(err));
          },
        );
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${what}; events: ${events.map((e) => e.type).join(',')}`,
              ),
            ),
          ),
        timeoutMs,
      );
      listeners.add(onEvent);
      onEvent();
    });

  const harness: Harness = {
    env,
    hub,
    chat,
    events,
    until: (probe, timeoutMs = 20_000, what = 'condition') => until(probe, timeoutMs, what),
    origin: (user = 'test:alice') => ({ platform: 'test', conversationId: `chat-${user}`, userId: user }),
    async submit(text, user) {
      return (await hub.tasks.submit({ origin: harness.origin(user), text })).task;
    },
    waitForTask(taskId, check, timeoutMs = 20_000) {
      return until(
        async () => {
          const t = await hub.ctx.db.selectFrom('tasks').selectAll().where('id', '=', taskId).executeTakeFirst();
          return t && check(t) ? t : undefined;
        },
        timeoutMs,
        `task ${taskId}`,
      );
    },
    waitForEvent(pred, timeoutMs = 20_000) {
      return until(() => events.find(pred), timeoutMs, 'event');
    },
    async close() {
      await hub.stop();
      await env.close();
    },
  };
  return harness;
}
