// The caller's own tasks: submit, list, show, cancel, retry.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import type { ScheduleService } from '../../core/schedules/schedule-service.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { NOTIFY_POLICIES, PRIORITIES } from '../../core/types.ts';
import { useZodSchemas } from './openapi.ts';
import { readUpload, uploadFields } from './artifact-routes.ts';
import { callerOf } from './auth.ts';
import type { NewArtifact } from '../../core/artifacts/artifact-store.ts';
import { serializeSchedule } from './schedule-routes.ts';
import { serializeTask, serializeTaskDetail, taskJson } from './serialize.ts';

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

/** Headers of POST /api/tasks: an optional Idempotency-Key (a retry with the same key gets the same task). */
export const submitHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1 to 255 visible ASCII characters, e.g. a UUID')
    .optional()
    .describe('Same key (same user) within the retention of tasks: the same task is answered, with 200'),
});

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

/** `{task}`: the answer of most task routes. */
export const taskOnly = z.object({ task: taskJson });
/** `{task, warnings}`: the answer of submit (with `schedule` when it was submitted for later) and duplicate. */
export const taskWithWarnings = z.object({
  task: taskJson,
  warnings: z.array(z.string()),
  schedule: z.unknown().optional().describe('The schedule, when runAt or schedule was given'),
});
/** One page of a task list; pass `nextCursor` as `cursor` for the next. */
export const taskPage = z.object({ tasks: z.array(taskJson), nextCursor: z.string().nullable() });

/** Files of a multipart submission, read before validation (the form fields then validate like a JSON body). */
const uploads = new WeakMap<object, NewArtifact[]>();

/** Registers the task routes on an authenticated scope; with `schedules`, POST /api/tasks also takes runAt/schedule. */
export function registerTaskRoutes(scope: FastifyInstance, tasks: TaskService, schedules?: ScheduleService): void {
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const one = { params: taskParams, tags: ['tasks'] };

  app.post(
    '/api/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: 'Submit a task (JSON, or multipart/form-data with the same fields plus `file` parts)',
        consumes: ['application/json', 'multipart/form-data'],
        body: submitBody,
        headers: submitHeaders,
        response: { 200: taskWithWarnings, 202: taskWithWarnings },
      },
      preValidation: async (request) => {
        if (!request.isMultipart?.()) return;
        const upload = await readUpload(request, tasks.maxFileBytes);
        uploads.set(request, upload.files);
        request.body = uploadFields(upload.fields) as typeof request.body;
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = request.body;
      const origin = { platform: 'web', conversationId: caller.userId, userId: caller.userId };
      const when = whenOf(body);
      const idempotencyKey = request.headers['idempotency-key'];
      if (when !== undefined) {
        if (idempotencyKey !== undefined)
          throw new InvalidInputError('Idempotency-Key is not supported with runAt or schedule; leave the header out.');
        if (!schedules)
          throw new InvalidInputError('Schedules are not available on this hub; leave out runAt/schedule.');
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
      const { task, warnings, replayed } = await tasks.submit({
        attachments: uploads.get(request),
        origin,
        text: body.text,
        priority: body.priority,
        notifyPolicy: body.notifyPolicy,
        requiresReview: body.review,
        idempotencyKey,
      });
      // A repeated Idempotency-Key answers 200 with the task the first submission created.
      return reply.code(replayed ? 200 : 202).send({ task: serializeTask(task), warnings });
    },
  );

  app.get(
    '/api/tasks',
    {
      schema: {
        tags: ['tasks'],
        summary: "The caller's tasks, newest first",
        querystring: listQuery,
        response: { 200: taskPage },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await tasks.list(callerOf(request), { status: q.status, limit: q.limit, cursor: q.cursor });
      return { tasks: page.tasks.map(serializeTask), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/api/tasks/:id',
    { schema: { ...one, summary: 'A task with its steps and recent events', response: { 200: taskOnly } } },
    async (request) => ({ task: serializeTaskDetail(await tasks.get(request.params.id, callerOf(request))) }),
  );

  app.post(
    '/api/tasks/:id/cancel',
    {
      schema: {
        ...one,
        summary: 'Cancel an active task',
        response: { 200: taskOnly.extend({ alreadyFinished: z.boolean() }) },
      },
    },
    async (request) => {
      const { task, alreadyFinished } = await tasks.cancel(request.params.id, callerOf(request));
      return { task: serializeTask(task), alreadyFinished };
    },
  );

  app.post(
    '/api/tasks/:id/retry',
    { schema: { ...one, summary: 'Retry a failed task', response: { 202: taskOnly } } },
    async (request, reply) => {
      const task = await tasks.retry(request.params.id, callerOf(request));
      return reply.code(202).send({ task: serializeTask(task) });
    },
  );

  app.post(
    '/api/tasks/:id/duplicate',
    { schema: { ...one, summary: 'Submit the same request again', response: { 202: taskWithWarnings } } },
    async (request, reply) => {
      const { task, warnings } = await tasks.duplicate(request.params.id, callerOf(request));
      return reply.code(202).send({ task: serializeTask(task), warnings });
    },
  );

  app.post(
    '/api/tasks/:id/approve',
    { schema: { ...one, summary: 'Approve a task waiting for review', response: { 200: taskOnly } } },
    async (request) => ({ task: serializeTask(await tasks.approve(request.params.id, callerOf(request))) }),
  );

  app.post(
    '/api/tasks/:id/reject',
    { schema: { ...one, summary: 'Reject a task waiting for review', body: rejectBody, response: { 200: taskOnly } } },
    async (request) => ({
      task: serializeTask(await tasks.reject(request.params.id, callerOf(request), request.body?.reason)),
    }),
  );

  app.post(
    '/api/tasks/:id/revise',
    {
      schema: {
        ...one,
        summary: 'Send a task in review back with feedback',
        body: reviseBody,
        response: { 202: taskOnly },
      },
    },
    async (request, reply) => {
      const task = await tasks.revise(request.params.id, callerOf(request), request.body.feedback);
      return reply.code(202).send({ task: serializeTask(task) });
    },
  );
}

/** The schedule phrase of a submission: `schedule` as written, or `runAt` as an exact time; undefined for "now". */
function whenOf(body: z.infer<typeof submitBody>): string | undefined {
  if (body.runAt !== undefined && body.schedule !== undefined)
    throw new InvalidInputError('Give runAt or schedule, not both.');
  if (body.runAt !== undefined) return `${new Date(body.runAt).toISOString().slice(0, 19)}+00:00`;
  return body.schedule;
}

/** Body of POST /api/tasks/:id/reject. */
export const rejectBody = z
  .object({ reason: z.string({ error: 'must be a string' }).max(2000, 'must be at most 2000 characters').optional() })
  .strict()
  .optional();
/** Body of POST /api/tasks/:id/revise. */
export const reviseBody = z
  .object(
    { feedback: z.string({ error: 'must be a string: what to change' }) },
    { error: () => 'a JSON object like {"feedback": "make it shorter"} is required' },
  )
  .strict();
