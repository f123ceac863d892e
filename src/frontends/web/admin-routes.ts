// /api/admin: dead letters, workers, queues and every user's tasks (403 for non-admins).
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminService } from '../../core/admin-service.ts';
import type { TaskService } from '../../core/task-service.ts';
import { PRIORITIES } from '../../core/types.ts';
import { callerOf, requireAdmin } from './auth.ts';
import { parseInput } from './error-handler.ts';
import { serializeFailed, serializeTask, serializeTaskDetail } from './serialize.ts';
import { listQuery, taskParams } from './task-routes.ts';

const failedQuery = z.object({
  capability: z.string().optional(),
  limit: z.coerce.number({ error: 'must be a number' }).int().min(1).max(1000).optional(),
});
const idParams = z.object({ id: z.string() });
const objectError = (example: string) => (issue: { code: string }) =>
  issue.code === 'invalid_type' ? `must be a JSON object like ${example}` : undefined;
const reprocessBody = z
  .object({ input: z.unknown().optional() }, { error: objectError('{"input": ...}') })
  .strict()
  .optional();
const priorityBody = z
  .object(
    { priority: z.enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(', ')}` }) },
    { error: objectError('{"priority": "urgent"}') },
  )
  .strict();
const reprocessAllBody = z
  .object(
    { capability: z.string({ error: 'must be a string' }).optional() },
    { error: objectError('{"capability": "demo.fail"}') },
  )
  .strict()
  .optional();

/** Registers the admin routes on an authenticated scope; the scope gets an admin-only hook. */
export function registerAdminRoutes(app: FastifyInstance, deps: { admin: AdminService; tasks: TaskService }): void {
  const { admin, tasks } = deps;
  app.addHook('onRequest', requireAdmin());

  app.post('/api/admin/tasks/:id/priority', async (request) => {
    const { id } = parseInput(idParams, request.params, 'id');
    const body = parseInput(priorityBody, request.body, 'request body');
    return admin.setPriority(id, body.priority, callerOf(request).userId);
  });

  app.get('/api/admin/failed', async (request) => {
    const q = parseInput(failedQuery, request.query, 'query');
    const failed = await admin.listFailed({ capability: q.capability, limit: q.limit });
    return { failed: failed.map(serializeFailed) };
  });

  app.post('/api/admin/failed/reprocess-all', async (request, reply) => {
    const body = parseInput(reprocessAllBody, request.body, 'request body');
    const result = await admin.reprocessAll(callerOf(request).userId, { capability: body?.capability });
    return reply.code(202).send(result);
  });

  app.post('/api/admin/failed/:id/reprocess', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'id');
    const body = parseInput(reprocessBody, request.body, 'request body');
    const opts = body && 'input' in body ? { input: body.input } : {};
    const result = await admin.reprocess(id, callerOf(request).userId, opts);
    return reply.code(202).send(result);
  });

  app.post('/api/admin/failed/:id/purge', async (request) => {
    const { id } = parseInput(idParams, request.params, 'id');
    return admin.purge(id, callerOf(request).userId);
  });

  app.get('/api/admin/workers', async () => ({ workers: await admin.workers() }));

  app.get('/api/admin/queues', async () => ({ queues: await admin.queues() }));

  app.get('/api/admin/tasks', async (request) => {
    const caller = callerOf(request);
    const q = parseInput(listQuery, request.query, 'query');
    const page = await tasks.list({ ...caller, all: true }, { status: q.status, limit: q.limit, cursor: q.cursor });
    return { tasks: page.tasks.map(serializeTask), nextCursor: page.nextCursor };
  });

  app.get('/api/admin/tasks/:id', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    return { task: serializeTaskDetail(await tasks.get(id, callerOf(request))) };
  });
}
