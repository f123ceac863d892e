// A full hub (startHub wires the schedule service and runner), with its recording chat and emitted events.
import type { HubEvent } from '../../src/core/hub-context.ts';
import type { ScheduleRunner } from '../../src/core/schedules/schedule-runner.ts';
import type { ScheduleService } from '../../src/core/schedules/schedule-service.ts';
import type { DatabaseHandle } from '../../src/core/store/create-database.ts';
import type { ConversationRef } from '../../src/core/types.ts';
import { startHub, type Hub } from '../../src/main.ts';
import { RecordingFrontend } from './recording-frontend.ts';
import type { TestEnv } from './test-env.ts';

/** A hub with schedules: its recording chat, the events it emitted, and how to stop it. */
export interface ScheduledHub {
  hub: Hub;
  chat: RecordingFrontend;
  schedules: ScheduleService;
  runner: ScheduleRunner;
  events: HubEvent[];
  /** Called after every event this hub emits. */
  listeners: Set<() => void>;
  stop(): Promise<void>;
}

/** Starts a hub with an embedded worker on `env` (optionally through another database handle); startHub wires schedules. */
export async function startScheduledHub(env: TestEnv, opts: { database?: DatabaseHandle } = {}): Promise<ScheduledHub> {
  const chat = new RecordingFrontend();
  const hub = await startHub({
    config: env.config,
    database: opts.database ?? env.database,
    embeddedWorkers: true,
    frontends: [chat],
    frontendFactories: [],
  });
  const events: HubEvent[] = [];
  const listeners = new Set<() => void>();
  hub.ctx.onEvents((evs) => {
    events.push(...evs);
    for (const l of [...listeners]) l();
  });
  return { hub, chat, schedules: hub.schedules, runner: hub.scheduleRunner, events, listeners, stop: () => hub.stop() };
}

/** Resolves with `probe()`'s first defined value, re-evaluated whenever any of the hubs emits an event (no polling). */
export function until<T>(
  hubs: ScheduledHub[],
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    let checking = false;
    let again = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      for (const h of hubs) h.listeners.delete(onEvent);
      clearTimeout(timer);
      fn();
    };
    const onEvent = (): void => {
      if (done) return;
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      void Promise.resolve()
        .then(probe)
        .then(
          (v) => {
            checking = false;
            if (v !== undefined) finish(() => resolve(v));
            else if (again) {
              again = false;
              onEvent();
            }
          },
          (err) => finish(() => reject(err)),
        );
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))),
      timeoutMs,
    );
    for (const h of hubs) h.listeners.add(onEvent);
    onEvent();
  });
}

/** The conversation a test user talks in. */
export function originOf(user = 'test:alice'): ConversationRef {
  return { platform: 'test', conversationId: `chat-${user}`, userId: user };
}
