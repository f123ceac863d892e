// The caller's own tasks: submit, list, show, cancel, retry.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { TaskService } from '../../core/task-service.ts';
import { NOTIFY_POLICIES, PRIORITIES } from '../../core/types.ts';
import { readUpload, uploadFields } from './artifact-routes.ts';
import { callerOf } from './auth.ts';
import { parseInput } from './error-handler.ts';
import { serializeTask, serializeTaskDetail } from './serialize.ts';

/** Body of POST /api/tasks. Length limits are the task service's to enforce, so its message speaks. */
export const submitBody = z
  .object(
    {
      text: z.string({ error: 'must be a string (what you want done)' }),
      priority: z.enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(', ')}` }).optional(),
      notifyPolicy: z.enum(NOTIFY_POLICIES, { error: `must be one of ${NOTIFY_POLICIES.join(', ')}` }).optional(),
      review: z.boolean({ error: 'must be true or false' }).optional(),
    },
    {
      error: (issue) =>
        issue.code !== 'invalid_type'
          ? undefined
          : issue.input === undefined
            ? 'a JSON object like {"text": "..."} is required'
            : 'must be a JSON object like {"text": "..."}',
    },
  )
  .strict();

/** Query of the task lists: status filter, page size and the cursor from the previous page. */
export const listQuery = z.object({
  status: z.string().optional(),
  limit: z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .optional(),
  cursor: z.string().optional(),
});

/** Path parameters naming one task (full id or a prefix of 4+ characters). */
export const taskParams = z.object({ id: z.string() });

/** Registers the task routes on an authenticated scope. */
export function registerTaskRoutes(app: FastifyInstance, tasks: TaskService): void {
  app.post('/api/tasks', async (request, reply) => {
    const caller = callerOf(request);
    const upload = request.isMultipart?.() ? await readUpload(request, tasks.maxFileBytes) : undefined;
    const body = parseInput(submitBody, upload ? uploadFields(upload.fields) : request.body, 'request body');
    const { task, warnings } = await tasks.submit({
      attachments: upload?.files,
      origin: { platform: 'web', conversationId: caller.userId, userId: caller.userId },
      text: body.text,
      priority: body.priority,
      notifyPolicy: body.notifyPolicy,
      requiresReview: body.review,
    });
    return reply.code(202).send({ task: serializeTask(task), warnings });
  });

  app.get('/api/tasks', async (request) => {
    const caller = callerOf(request);
    const q = parseInput(listQuery, request.query, 'query');
    const page = await tasks.list(caller, { status: q.status, limit: q.limit, cursor: q.cursor });
    return { tasks: page.tasks.map(serializeTask), nextCursor: page.nextCursor };
  });

  app.get('/api/tasks/:id', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    return { task: serializeTaskDetail(await tasks.get(id, callerOf(request))) };
  });

  app.post('/api/tasks/:id/cancel', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const { task, alreadyFinished } = await tasks.cancel(id, callerOf(request));
    return { task: serializeTask(task), alreadyFinished };
  });

  app.post('/api/tasks/:id/retry', async (request, reply) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const task = await tasks.retry(id, callerOf(request));
    return reply.code(202).send({ task: serializeTask(task) });
  });

  app.post('/api/tasks/:id/duplicate', async (request, reply) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const { task, warnings } = await tasks.duplicate(id, callerOf(request));
    return reply.code(202).send({ task: serializeTask(task), warnings });
  });

  app.post('/api/tasks/:id/approve', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    return { task: serializeTask(await tasks.approve(id, callerOf(request))) };
  });

  app.post('/api/tasks/:id/reject', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const body = parseInput(rejectBody, request.body, 'request body');
    return { task: serializeTask(await tasks.reject(id, callerOf(request), body?.reason)) };
  });

  app.post('/api/tasks/:id/revise', async (request, reply) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const body = parseInput(reviseBody, request.body, 'request body');
    return reply.code(202).send({ task: serializeTask(await tasks.revise(id, callerOf(request), body.feedback)) });
  });
}

const rejectBody = z
  .object({ reason: z.string({ error: 'must be a string' }).max(2000, 'must be at most 2000 characters').optional() })
  .strict()
  .optional();
const reviseBody = z
  .object(
    { feedback: z.string({ error: 'must be a string: what to change' }) },
    { error: () => 'a JSON object like {"feedback": "make it shorter"} is required' },
  )
  .strict();
