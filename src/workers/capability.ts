// What a capability handler is given and returns. Handlers never see the database or other users.
import type { Logger } from 'pino';
import type { ArtifactReader } from '../core/artifacts/artifact-transport.ts';
import type { ProgressTracker } from './progress-tracker.ts';
import type { Capability } from './define-capability.ts';
import type { SessionScope } from './session-store.ts';

/** Everything a handler needs for one run of one subtask. */
export interface HandlerContext<I = any> {
  input: I;
  /** Outputs of the subtasks this one depends on, by plan key. */
  deps: Record<string, unknown>;
  /** Aborted on timeout, cancellation or shutdown; long work must watch it. */
  signal: AbortSignal;
  log: Logger;
  progress: ProgressTracker;
  /** Resources shared by the subtasks of one task on this worker, disposed when the task ends. */
  session: SessionScope;
  /** The task files this step may read (uploads, dependencies' outputs), fetched through Redis (always set by the runtime). */
  artifacts?: ArtifactReader | undefined;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  job: { taskId: string; subtaskId: string; key: string; capability: string; userId: string; generation: number };
}

/** A capability implementation: returns the output (any JSON) or throws. Throw UnrecoverableError to skip retries. */
export type CapabilityHandler = (ctx: HandlerContext) => Promise<unknown>;

/**
 * Capabilities by name, or by pattern (`llm.*`) for one that serves a family. A bare handler is shorthand for a
 * capability that takes any input and advertises no spec (tests and families); declare real ones with
 * `defineCapability`.
 */
export type CapabilityHandlers = Record<string, CapabilityHandler | Capability>;

/** Capabilities keyed by name, as the runtime takes them. */
export function byName(capabilities: Capability[]): CapabilityHandlers {
  return Object.fromEntries(capabilities.map((c) => [c.name, c]));
}
