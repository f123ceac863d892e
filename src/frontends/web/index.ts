// The web frontend: the HTTP API (tasks, admin, SSE, WebSocket, OpenAPI, health), the dashboard, and chat messages to SSE.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AdminService } from '../../core/tasks/admin-service.ts';
import { ConfigError } from '../../core/errors.ts';
import type { HubContext } from '../../core/hub-context.ts';
import type { ScheduleService } from '../../core/schedules/schedule-service.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { FrontendLimits, IFrontend, OutboundMessage } from '../frontend.ts';
import { registerAccessRoutes } from './access-routes.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { registerArtifactLinkRoute, registerArtifactRoutes } from './artifact-routes.ts';
import { registerDashboard } from './dashboard.ts';
import { useZodSchemas } from './openapi.ts';
import { SessionStore } from './session.ts';
import { registerWsRoute, WsHub } from './ws-route.ts';
import { authenticate, TokenAuthenticator } from './auth.ts';
import { installErrorHandling, installJsonParser } from './error-handler.ts';
import { registerHealthRoutes } from './health-routes.ts';
import { SseHub, type WebMessageEnvelope } from './sse-hub.ts';
import { registerStreamRoute } from './stream-route.ts';
import { registerScheduleRoutes } from './schedule-routes.ts';
import { registerMonitorRoutes } from './monitor-routes.ts';
import type { MonitorService } from '../../core/monitors/monitor-service.ts';
import { registerTaskRoutes } from './task-routes.ts';
import { registerTraceRoutes } from './trace-routes.ts';

/** What the web frontend needs. */
export interface WebFrontendConfig {
  ctx: HubContext;
  tasks: TaskService;
  admin: AdminService;
  /** Schedules (recurring and one-shot tasks), when the hub runs them. */
  schedules?: ScheduleService | undefined;
  /** Web monitors, when the hub runs them. */
  monitors?: MonitorService | undefined;
  host: string;
  port: number;
  /** token -> user name; the caller becomes `web:<name>`. */
  tokens: Map<string, string>;
  /** Largest accepted request body (default 2 MiB, so the task service's own length check speaks first). */
  bodyLimitBytes?: number;
  /** Interval of SSE keep-alive comments (default 15 s). */
  sseHeartbeatMs?: number;
  /** The hub's version, shown in the OpenAPI document. */
  version?: string;
}

/** The web frontend; `server` is exposed so other frontends can add webhook routes before `start()`. */
export interface WebFrontend extends IFrontend {
  readonly name: 'web';
  /** Base URL once started, e.g. http://127.0.0.1:54321. */
  url(): string;
  readonly server: FastifyInstance;
  /** Number of open SSE streams. */
  openStreams(): number;
  /** Number of open WebSocket connections. */
  openSockets(): number;
  /** A one-time dashboard sign-in link for a user (valid 10 minutes); the code stays out of server logs (#fragment). */
  signInLink(userId: string): Promise<string>;
}

/** How long `stop()` lets in-flight requests finish before closing their connections. */
const CLOSE_GRACE_MS = 3000;

/** Default request body limit. */
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;

/** Builds (but does not start) the web frontend. */
export function createWebFrontend(config: WebFrontendConfig): WebFrontend {
  const { ctx, tasks, admin } = config;
  const bodyLimit = config.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const log = ctx.log.child({ frontend: 'web' });
  const server = Fastify({
    // Request logs go through the hub's logger (secrets redacted) with a request id, honouring x-request-id.
    loggerInstance: log as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    bodyLimit,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  const hub = new SseHub(ctx);
  const auth = new TokenAuthenticator(config.tokens);
  const sessions = new SessionStore(ctx);
  const ws = new WsHub({
    ctx,
    tasks,
    heartbeatMs: ctx.config.WS_HEARTBEAT_MS,
    maxBufferBytes: ctx.config.WS_MAX_BUFFER_BYTES,
  });
  let baseUrl: string | null = null;

  const unused = new Set<Socket>();
  server.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  server.server.on('request', (request: IncomingMessage) => unused.delete(request.socket));

  installErrorHandling(server, log, bodyLimit);
  registerDashboard(server, { ctx, auth, sessions, version: config.version ?? '0.0.0' });
  registerHealthRoutes(server, ctx);
  registerArtifactLinkRoute(server, ctx);
  void server.register(async (api) => {
    installJsonParser(api);
    useZodSchemas(api);
    api.addHook('onRequest', authenticate(ctx, auth, sessions));
    registerWsRoute(api, ws);
    registerArtifactRoutes(api, { ctx, tasks });
    registerTaskRoutes(api, tasks, config.schedules);
    registerTraceRoutes(api, { ctx, tasks });
    if (config.schedules) registerScheduleRoutes(api, config.schedules);
    if (config.monitors) registerMonitorRoutes(server, api, config.monitors);
    registerStreamRoute(api, { ctx, tasks, hub, heartbeatMs: config.sseHeartbeatMs ?? 15_000 });
    void api.register(async (adminScope) => registerAdminRoutes(adminScope, { admin, tasks }));
    void api.register(async (accessScope) => registerAccessRoutes(accessScope, ctx));
  });

  const publish = async (
    ref: { conversationId: string },
    messageId: string,
    message: OutboundMessage,
  ): Promise<void> => {
    const envelope: WebMessageEnvelope = { kind: 'message', conversationId: ref.conversationId, messageId, message };
    await ctx.redis.publish(ctx.keys.web, JSON.stringify(envelope));
  };

  const limits: FrontendLimits = { maxLength: 100_000, canEdit: true, threads: false, markup: 'markdown' };

  return {
    name: 'web',
    limits,
    server,
    openStreams: () => hub.size,
    openSockets: () => ws.size,
    async signInLink(userId: string) {
      const base = ctx.config.PUBLIC_URL?.replace(/\/+$/, '') ?? this.url();
      return `${base}/#/sign-in?code=${await sessions.issueCode(userId)}`;
    },
    url() {
      if (!baseUrl) throw new Error('The web frontend is not started.');
      return baseUrl;
    },
    async start() {
      if (baseUrl) return;
      await hub.start();
      await ws.start();
      try {
        await server.listen({ host: config.host, port: config.port });
      } catch (err) {
        await hub.stop();
        await ws.stop();
        const code = (err as { code?: string }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') {
          throw new ConfigError(
            `Cannot listen on ${config.host}:${config.port} (${code === 'EADDRINUSE' ? 'already in use, perhaps by another hub' : 'permission denied'}). Stop the other process or set PORT (and HOST) to a free address.`,
            err,
          );
        }
        throw err;
      }
      const addr = server.server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      baseUrl = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${addr.port}`;
      log.info({ url: baseUrl }, 'web frontend listening');
    },
    async stop() {
      await hub.stop();
      await ws.stop();
      // Connections that never sent a request (HTTP clients pre-connect) are not "idle" to node and would hold close().
      for (const socket of unused) socket.destroy();
      const force = setTimeout(() => server.server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      try {
        await server.close();
      } finally {
        clearTimeout(force);
      }
      baseUrl = null;
    },
    async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
      const messageId = randomUUID();
      await publish(ref, messageId, message);
      return { platform: 'web', conversationId: ref.conversationId, messageId };
    },
    async edit(ref: MessageRef, message: OutboundMessage): Promise<void> {
      await publish(ref, ref.messageId, message);
    },
  };
}
