// Bull Board at /admin/queues for admins. Read-only by default: Postgres is the source of truth, so a retry or
// removal made on a queue behind the hub's back would disagree with the subtask rows; Switchboard's own admin
// commands (reprocess, purge, cancel) change both together. Admins sign in with a bearer token or the dashboard's
// session cookie; with the cookie only reads pass (the board's page cannot send the dashboard's CSRF header).
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../core/hub-context.ts';
import { capabilityQueueName, NOTIFY_QUEUE, RESULTS_QUEUE } from '../core/queues.ts';
import { describeError } from '../core/errors.ts';
import { authenticate, requireAdmin, TokenAuthenticator } from '../frontends/web/auth.ts';
import { sendError } from '../frontends/web/error-handler.ts';
import { SessionStore } from '../frontends/web/session.ts';

/** Where the board is mounted. */
export const BOARD_PATH = '/admin/queues';

/** Mounts the board behind the API's admin sign-in (token or session cookie); its queues follow the capabilities. */
export function registerQueueBoard(
  server: FastifyInstance,
  deps: { ctx: HubContext; tokens: Map<string, string>; readOnly: boolean },
): void {
  const { ctx, readOnly } = deps;
  const adapter = new FastifyAdapter();
  adapter.setBasePath(BOARD_PATH);
  const shown = new Set<string>();
  const adapt = (name: string) => new BullMQAdapter(ctx.queues.get(name), { readOnlyMode: readOnly });
  const board = createBullBoard({
    queues: [RESULTS_QUEUE, NOTIFY_QUEUE].map(adapt),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'Switchboard queues' } },
  });
  const syncQueues = async () => {
    for (const cap of await ctx.redis.smembers(ctx.keys.capabilities)) {
      const name = capabilityQueueName(cap);
      if (shown.has(name)) continue;
      shown.add(name);
      board.addQueue(adapt(name));
    }
  };
  const signIn = authenticate(ctx, new TokenAuthenticator(deps.tokens), new SessionStore(ctx));
  const adminOnly = requireAdmin();
  void server.register(async (scope) => {
    // The board's plugin has its own error handler, so refusals are answered here, in the API's error shape.
    scope.addHook('onRequest', async (request, reply) => {
      try {
        await signIn(request, reply);
        await adminOnly(request);
      } catch (err) {
        const { status, code, message } = describeError(err);
        // A browser that is not signed in is sent to the dashboard's sign-in page rather than shown JSON.
        if (status === 401 && request.method === 'GET' && /text\/html/.test(request.headers.accept ?? ''))
          return reply.redirect('/#/sign-in');
        return sendError(reply, status, { error: { code, message } });
      }
      await syncQueues();
    });
    await scope.register(adapter.registerPlugin(), { prefix: BOARD_PATH });
  });
}
