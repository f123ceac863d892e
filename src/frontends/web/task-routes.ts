// The caller's own tasks: submit, list, show, cancel, retry.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import type { ScheduleService } from '../../core/schedules/schedule-service.ts';
import type { TaskService } from '../../core/task-service.ts';
import { NOTIFY_POLICIES, PRIORITIES } from '../../core/types.ts';
import { callerOf } from './auth.ts';
import { parseInput } from './error-handler.ts';
import { serializeSchedule } from './schedule-routes.ts';
import { serializeTask, serializeTaskDetail } from './serialize.ts';

/** Body of POST /api/tasks. Length limits are the task service's to enforce, so its message speaks. */
export const submitBody = z
  .object(
    {
      text: z.string({ error: 'must be a string (what you want done)' }),
      priority: z.enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(', ')}` }).optional(),
      notifyPolicy: z.enum(NOTIFY_POLICIES, { error: `must be one of ${NOTIFY_POLICIES.join(', ')}` }).optional(),
      review: z.boolean({ error: 'must be true or false' }).optional(),
      runAt: z.iso
        .datetime({ offset: true, error: 'must be an ISO time with a zone, e.g. 2030-12-24T09:00:00Z' })
        .optional(),
      schedule: z.string({ error: 'must be a string, e.g. "every day at 9:00" or "in 2 hours"' }).optional(),
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

/** Registers the task routes on an authenticated scope; with `schedules`, POST /api/tasks also takes runAt/schedule. */
export function registerTaskRoutes(app: FastifyInstance, tasks: TaskService, schedules?: ScheduleService): void {
  app.post('/api/tasks', async (request, reply) => {
    const caller = callerOf(request);
    const body = parseInput(submitBody, request.body, 'request body');
    const origin = { platform: 'web', conversationId: caller.userId, userId: caller.userId };
    const when = whenOf(body);
    if (when !== undefined) {
      if (!schedules) throw new InvalidInputError('Schedules are not available on this hub; leave out runAt/schedule.');
      if (body.review) throw new InvalidInputError('review cannot be combined with runAt or schedule.');
      const { schedule } = await schedules.create({
        origin,
        when,
        text: body.text,
        priority: body.priority,
        notifyPolicy: body.notifyPolicy,
      });
      // The task that stands for the schedule: SCHEDULED, with its next run time.
      const { task } = await tasks.get(schedule.parent_task_id, caller, 0);
      return reply.code(202).send({ task: serializeTask(task), schedule: serializeSchedule(schedule), warnings: [] });
    }
    const { task, warnings } = await tasks.submit({
      origin,
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

/** The schedule phrase of a submission: `schedule` as written, or `runAt` as an exact time; undefined for "now". */
function whenOf(body: z.infer<typeof submitBody>): string | undefined {
  if (body.runAt !== undefined && body.schedule !== undefined)
    throw new InvalidInputError('Give runAt or schedule, not both.');
  // The time-spec grammar takes an ISO time with a numeric offset and no fraction of a second.
  if (body.runAt !== undefined) return `${new Date(body.runAt).toISOString().slice(0, 19)}+00:00`;
  return body.schedule;
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
