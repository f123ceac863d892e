// Shared domain types of the hub. Pure data: no behaviour, no platform knowledge.

/** Lifecycle states of a task (see lifecycle.ts for the allowed moves). */
export const TASK_STATUSES = [
  'SUBMITTED',
  /** Waiting for its run time (a schedule's task); never counted as running. */
  'SCHEDULED',
  'QUEUED',
  'PLANNING',
  'ASSIGNED',
  'IN_PROGRESS',
  'REVIEW',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'REJECTED',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Lifecycle states of a subtask. */
export const SUBTASK_STATUSES = [
  'PENDING',
  'READY',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'DEAD',
  'CANCELLED',
  'SKIPPED',
] as const;
export type SubtaskStatus = (typeof SUBTASK_STATUSES)[number];

/** How urgently a task's subtasks are taken off their queues. */
export const PRIORITIES = ['urgent', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Which task events are pushed back to the origin conversation. */
export const NOTIFY_POLICIES = ['done_only', 'state_changes', 'silent'] as const;
export type NotifyPolicy = (typeof NOTIFY_POLICIES)[number];

/** Where a request came from, so any process can answer there later. */
export interface ConversationRef {
  platform: string;
  conversationId: string;
  threadId?: string | undefined;
  userId: string;
  /**
   * The platform message that is edited in place with progress, once sent; set at submit when the frontend
   * answered the platform with a placeholder the acknowledgement is to fill (a deferred Discord interaction).
   */
  progressMessageId?: string | undefined;
}

/** A chat message or button press, normalised by a frontend for the shared command grammar. */
export interface InboundMessage {
  /** Platform event id (update id, interaction id, event_id, MessageSid), for deduplication. */
  eventId: string;
  origin: ConversationRef;
  text: string;
  /** Whether plain text (no command word) is a new task here: direct messages and SMS yes, group chatter no. */
  plainTextIsTask: boolean;
  /** Files that came with the message, already fetched by the frontend (they become task artifacts). */
  attachments?: InboundAttachment[] | undefined;
}

/** A file that came with a request: its bytes, or why they could not be taken (too large, fetch failed). */
export interface InboundAttachment {
  name: string;
  mediaType: string;
  bytes?: Uint8Array | undefined;
  /** Set instead of `bytes` when the file was refused; the request is then refused with this text. */
  error?: string | undefined;
}

/** A task file as a job carries it: metadata, and the Redis hash its bytes are staged in under their SHA-256 (null: over the job cap). */
export interface ArtifactRef {
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  /** 'upload' or the plan key of the step that produced it. */
  producer: string;
  key: string | null;
}

/** A message a frontend has delivered, so it can be edited later. */
export interface MessageRef {
  platform: string;
  conversationId: string;
  threadId?: string | undefined;
  messageId: string;
}

/** What a worker reports while it runs a subtask. */
export interface ProgressReport {
  stage?: string | undefined;
  done?: number | undefined;
  total?: number | undefined;
  message?: string | undefined;
}

/** Progress as the hub derives it: percent, rate and ETA on top of the raw report. */
export interface DerivedProgress extends ProgressReport {
  percent: number;
  elapsedMs: number;
  etaMs?: number | undefined;
  itemsPerSecond?: number | undefined;
  subtasksDone: number;
  subtasksTotal: number;
}

/** What travels on a capability queue: everything a stateless worker needs, nothing more. */
export interface JobData {
  taskId: string;
  subtaskId: string;
  key: string;
  generation: number;
  capability: string;
  input: unknown;
  /** Outputs of the dependencies, by their plan key. */
  deps: Record<string, unknown>;
  /** The user on whose behalf the work runs; workers see nothing else of the user. */
  scope: { userId: string };
  timeoutMs: number;
  /** The task files this step may read (uploads and its dependencies' outputs); bytes are staged in Redis. */
  artifacts?: ArtifactRef[] | undefined;
}

/** What a worker sends back on the results stream (older workers: the results queue). */
export type JobResult =
  | {
      kind: 'succeeded';
      taskId: string;
      subtaskId: string;
      generation: number;
      attempt: number;
      workerId: string;
      startedAt?: number | undefined;
      output: unknown;
      /** False when the job finished before its start was signalled: the conductor then records the start too. */
      startSignalled?: boolean | undefined;
    }
  | {
      kind: 'failed';
      taskId: string;
      subtaskId: string;
      generation: number;
      attempt: number;
      workerId: string;
      error: string;
      final: boolean;
      retryInMs?: number | undefined;
    };

/** Fire-and-forget signals from workers (progress, start); losing one loses nothing durable. */
export type WorkerSignal =
  | {
      t: 'started';
      taskId: string;
      subtaskId: string;
      generation: number;
      workerId: string;
      attempt: number;
      at: number;
      /** BullMQ runs this job again after a worker stopped mid-run (it was started more often than attempted). */
      redelivered?: boolean | undefined;
    }
  | { t: 'progress'; taskId: string; subtaskId: string; generation: number; progress: ProgressReport; at: number };

/** A worker's registration, refreshed by its heartbeat. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  patterns: string[];
  state: 'IDLE' | 'WAITING' | 'BUSY' | 'ERROR' | 'SHUTDOWN';
  running: number;
  concurrency: number;
  capabilities: string[];
  /** What each exact capability this worker runs does and takes: what a planner may plan over. */
  specs?: CapabilitySpec[] | undefined;
  version: string;
  startedAt: number;
  seenAt: number;
}

/** A capability as workers advertise it: a dotted name, one line saying what it does, its input as JSON schema. */
export interface CapabilitySpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}
