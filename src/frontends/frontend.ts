// The IFrontend contract every platform adapter implements. Frontends translate; core decides.
import type { FastifyInstance } from 'fastify';
import type { CommandService } from '../core/commands/command-service.ts';
import type { Config } from '../core/config.ts';
import type { HubContext } from '../core/hub-context.ts';
import type { Logger } from '../core/logger.ts';
import type { TaskService } from '../core/tasks/task-service.ts';
import type { ConversationRef, MessageRef } from '../core/types.ts';

/** What a platform can do with messages. */
export interface FrontendLimits {
  /** Longest text one message may carry. */
  maxLength: number;
  /** Whether a sent message can be edited in place (progress). */
  canEdit: boolean;
  /** Whether replies can go into a thread. */
  threads: boolean;
  /** Markup the platform renders: none, Markdown, Slack's mrkdwn, or HTML. */
  markup: 'none' | 'markdown' | 'mrkdwn' | 'html';
}

/** Kinds of outbound message, so a frontend can style them (buttons, colours) if it wants. */
export type OutboundKind = 'ack' | 'progress' | 'result' | 'failure' | 'info';

/** A message to deliver to a conversation. */
export interface OutboundMessage {
  taskId: string;
  kind: OutboundKind;
  text: string;
  /** Actions a platform may render as buttons. */
  actions?: Array<'cancel' | 'retry' | 'approve' | 'reject'>;
  /** Files to deliver with the message (documents where the platform takes files, else their links). */
  files?: OutboundFile[] | undefined;
}

/** A task file to deliver; `read` loads its bytes only when a platform sends files. */
export interface OutboundFile {
  name: string;
  mediaType: string;
  size: number;
  /** A signed download link, when PUBLIC_URL is set. */
  url?: string | undefined;
  read(): Promise<Uint8Array>;
}

/** A platform adapter. */
export interface IFrontend {
  readonly name: string;
  readonly limits: FrontendLimits;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Delivers a new message; returns a ref that `edit` accepts. Throws PermanentError for a 4xx that retrying cannot fix. */
  send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef>;
  /**
   * Replaces the text of a message sent earlier (only when `limits.canEdit`); may return a fuller ref of the
   * message (Discord learns the id of an interaction's original response this way).
   */
  edit?(ref: MessageRef, message: OutboundMessage): Promise<MessageRef | void>;
}

/** What the hub gives a chat frontend's factory. Webhook routes must be added to `http` in the factory, before start. */
export interface FrontendDeps {
  config: Config;
  /** Shared hub state: Redis (`ctx.redis`, key names in `ctx.keys`), logger, admin check. */
  ctx: HubContext;
  commands: CommandService;
  tasks: TaskService;
  log: Logger;
  /** The hub's one HTTP server (shared by the API and every webhook). */
  http: FastifyInstance;
}

/** Builds a frontend once the hub's services exist. */
export type FrontendFactory = (deps: FrontendDeps) => IFrontend;
