// /api/admin/access: who may use the hub from chat, pairing approvals and revocations (403 for non-admins).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AccessService } from '../../core/access/access-service.ts';
import type { HubContext } from '../../core/hub-context.ts';
import { callerOf, requireAdmin } from './auth.ts';
import { useZodSchemas } from './openapi.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Body of POST /api/admin/access/pair. */
export const pairBody = z
  .object(
    { code: z.string({ error: 'must be a string: the code the user got' }) },
    { error: () => 'a JSON object like {"code": "K7Q2M9XD"} is required' },
  )
  .strict();
const userParams = z.object({ userId: z.string().describe('platform:id, e.g. telegram:42') });

/** GET /api/admin/access: the access policy, active grants and pending pairing codes. */
export const accessOverviewJson = z.object({
  open: z.boolean().describe('Anyone may use the hub (no HUB_ALLOWED_USERS)'),
  patterns: z.array(z.string()).describe('HUB_ALLOWED_USERS patterns'),
  pairing: z.boolean().describe('HUB_PAIRING: unknown users may ask with a code'),
  grants: z.array(z.object({ userId: z.string(), grantedBy: z.string(), at: z.string().nullable() })),
  pending: z.array(
    z.object({ code: z.string(), userId: z.string(), at: z.string().nullable(), expiresAt: z.string().nullable() }),
  ),
});

/** Registers the access routes on their own admin-only scope. */
export function registerAccessRoutes(scope: FastifyInstance, ctx: HubContext): void {
  const access = new AccessService(ctx);
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const tags = ['access'];
  app.addHook('onRequest', requireAdmin());

  app.get(
    '/api/admin/access',
    { schema: { tags, summary: 'Who may use the hub from chat', response: { 200: accessOverviewJson } } },
    async () => {
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
    },
  );

  app.post(
    '/api/admin/access/pair',
    {
      schema: {
        tags,
        summary: 'Approve a pairing code a chat user got; grants that user access',
        body: pairBody,
        response: { 200: z.object({ userId: z.string() }) },
      },
    },
    async (request) => await access.approve(request.body.code, callerOf(request).userId),
  );

  app.delete(
    '/api/admin/access/:userId',
    {
      schema: {
        tags,
        summary: "Revoke a user's grant",
        params: userParams,
        response: {
          200: z.object({
            userId: z.string(),
            stillListed: z.boolean().describe('HUB_ALLOWED_USERS still matches the user'),
          }),
        },
      },
    },
    async (request) => await access.revoke(request.params.userId, callerOf(request).userId),
  );
}
