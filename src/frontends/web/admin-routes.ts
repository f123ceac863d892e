// /api/admin: dead letters, workers, queues and every user's tasks (403 for non-admins).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AdminService } from '../../core/tasks/admin-service.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { PRIORITIES } from '../../core/types.ts';
import { useZodSchemas } from './openapi.ts';
import { callerOf, requireAdmin } from './auth.ts';
import { failedJson, serializeFailed, serializeTask, serializeTaskDetail } from './serialize.ts';
import { listQuery, taskOnly, taskPage, taskParams } from './task-routes.ts';

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

const workerJson = z.object({
  id: z.string(),
  host: z.string(),
  pid: z.number(),
  patterns: z.array(z.string()),
  state: z.enum(['IDLE', 'WAITING', 'BUSY', 'ERROR', 'SHUTDOWN']),
  running: z.number(),
  concurrency: z.number(),
  capabilities: z.array(z.string()),
  specs: z
    .array(z.object({ name: z.string(), description: z.string(), inputSchema: z.record(z.string(), z.unknown()) }))
    .optional(),
  version: z.string(),
  startedAt: z.number().describe('Unix ms'),
  seenAt: z.number().describe('Last heartbeat, Unix ms'),
});
const queueJson = z.object({
  capability: z.string(),
  waiting: z.number(),
  active: z.number(),
  delayed: z.number(),
  failed: z.number(),
  completed: z.number(),
  prioritized: z.number(),
});
const taskIdOnly = z.object({ taskId: z.string() });

/** Registers the admin routes on an authenticated scope; the scope gets an admin-only hook. */
export function registerAdminRoutes(scope: FastifyInstance, deps: { admin: AdminService; tasks: TaskService }): void {
  const { admin, tasks } = deps;
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const tags = ['admin'];
  app.addHook('onRequest', requireAdmin());

  app.post(
    '/api/admin/tasks/:id/priority',
    {
      schema: {
        tags,
        summary: "Change a task's priority",
        params: idParams,
        body: priorityBody,
        response: { 200: taskIdOnly.extend({ requeued: z.number() }) },
      },
    },
    async (request) => admin.setPriority(request.params.id, request.body.priority, callerOf(request).userId),
  );

  app.get(
    '/api/admin/failed',
    {
      schema: {
        tags,
        summary: 'Open dead letters',
        querystring: failedQuery,
        response: { 200: z.object({ failed: z.array(failedJson) }) },
      },
    },
    async (request) => {
      const q = request.query;
      const failed = await admin.listFailed({ capability: q.capability, limit: q.limit });
      return { failed: failed.map(serializeFailed) };
    },
  );

  app.post(
    '/api/admin/failed/reprocess-all',
    {
      schema: {
        tags,
        summary: 'Reprocess every open dead letter',
        body: reprocessAllBody,
        response: { 202: z.object({ tasks: z.array(z.string()), errors: z.array(z.string()) }) },
      },
    },
    async (request, reply) => {
      const result = await admin.reprocessAll(callerOf(request).userId, { capability: request.body?.capability });
      return reply.code(202).send(result);
    },
  );

  app.post(
    '/api/admin/failed/:id/reprocess',
    {
      schema: {
        tags,
        summary: 'Reprocess a dead letter, optionally with edited input',
        params: idParams,
        body: reprocessBody,
        response: { 202: taskIdOnly.extend({ subtasks: z.number() }) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const opts = body && 'input' in body ? { input: body.input } : {};
      const result = await admin.reprocess(request.params.id, callerOf(request).userId, opts);
      return reply.code(202).send(result);
    },
  );

  app.post(
    '/api/admin/failed/:id/purge',
    {
      schema: {
        tags,
        summary: 'Close a dead letter without reprocessing',
        params: idParams,
        response: { 200: taskIdOnly },
      },
    },
    async (request) => admin.purge(request.params.id, callerOf(request).userId),
  );

  app.get(
    '/api/admin/workers',
    { schema: { tags, summary: 'Live workers', response: { 200: z.object({ workers: z.array(workerJson) }) } } },
    async () => ({ workers: await admin.workers() }),
  );

  app.get(
    '/api/admin/queues',
    {
      schema: {
        tags,
        summary: 'Queue counts per capability',
        response: { 200: z.object({ queues: z.array(queueJson) }) },
      },
    },
    async () => ({ queues: await admin.queues() }),
  );

  app.get(
    '/api/admin/tasks',
    { schema: { tags, summary: "Every user's tasks", querystring: listQuery, response: { 200: taskPage } } },
    async (request) => {
      const q = request.query;
      const page = await tasks.list(
        { ...callerOf(request), all: true },
        { status: q.status, limit: q.limit, cursor: q.cursor },
      );
      return { tasks: page.tasks.map(serializeTask), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/api/admin/tasks/:id',
    { schema: { tags, summary: 'Any task in detail', params: taskParams, response: { 200: taskOnly } } },
    async (request) => ({ task: serializeTaskDetail(await tasks.get(request.params.id, callerOf(request))) }),
  );
}
