// /api/admin/access: who may use the hub from chat, pairing approvals and revocations (403 for non-admins).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AccessService } from '../../core/access/access-service.ts';
import type { HubContext } from '../../core/hub-context.ts';
import { callerOf, requireAdmin } from './auth.ts';
import { parseInput } from './error-handler.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const pairBody = z
  .object(
    { code: z.string({ error: 'must be a string: the code the user got' }) },
    { error: () => 'a JSON object like {"code": "K7Q2M9XD"} is required' },
  )
  .strict();
const userParams = z.object({ userId: z.string() });

/** Registers the access routes on their own admin-only scope. */
export function registerAccessRoutes(app: FastifyInstance, ctx: HubContext): void {
  const access = new AccessService(ctx);
  app.addHook('onRequest', requireAdmin());

  app.get('/api/admin/access', async () => {
    const o = await access.overview();
    return {
      open: o.open,
      patterns: o.patterns,
      pairing: o.pairing,
      grants: o.grants.map((g) => ({ userId: g.user_id, grantedBy: g.granted_by, at: iso(g.created_at) })),
      pending: o.pending.map((p) => ({
        code: p.code,
        userId: p.user_id,
        at: iso(p.created_at),
        expiresAt: iso(p.expires_at),
      })),
    };
  });

  app.post('/api/admin/access/pair', async (request) => {
    const body = parseInput(pairBody, request.body, 'request body');
    return await access.approve(body.code, callerOf(request).userId);
  });

  app.delete('/api/admin/access/:userId', async (request) => {
    const { userId } = parseInput(userParams, request.params, 'user id');
    return await access.revoke(userId, callerOf(request).userId);
  });
}
