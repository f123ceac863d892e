// The caller's schedules over HTTP: create, list, pause, resume, delete, and the caller's time zone.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ScheduleService } from '../../core/schedules/schedule-service.ts';
import type { Schedule } from '../../core/store/schedule-rows.ts';
import { NOTIFY_POLICIES, PRIORITIES } from '../../core/types.ts';
import { useZodSchemas } from './openapi.ts';
import { scheduleJson } from './serialize.ts';
import { callerOf } from './auth.ts';

const objectError = (example: string) => (issue: { code: string; input?: unknown }) =>
  issue.code !== 'invalid_type'
    ? undefined
    : issue.input === undefined
      ? `a JSON object like ${example} is required`
      : `must be a JSON object like ${example}`;

/** Body of POST /api/schedules: `when` and `text`, or only `text` starting with the schedule phrase. */
export const createScheduleBody = z
  .object(
    {
      when: z.string({ error: 'must be a string, e.g. "every day at 9:00"' }).optional(),
      text: z.string({ error: 'must be a string (what to do each time)' }),
      priority: z.enum(PRIORITIES, { error: `must be one of ${PRIORITIES.join(', ')}` }).optional(),
      notifyPolicy: z.enum(NOTIFY_POLICIES, { error: `must be one of ${NOTIFY_POLICIES.join(', ')}` }).optional(),
    },
    { error: objectError('{"when": "every day at 9:00", "text": "summarise the news"}') },
  )
  .strict();

/** Body of PUT /api/me/timezone. */
export const timezoneBody = z
  .object(
    {
      timezone: z.string({ error: 'must be a string, an IANA time zone such as Europe/Berlin' }),
    },
    { error: objectError('{"timezone": "Europe/Berlin"}') },
  )
  .strict();

/** Query of GET /api/schedules. */
export const listSchedulesQuery = z.object({
  all: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  ended: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
});

/** Path parameters naming one schedule (full id or prefix). */
export const scheduleParams = z.object({ id: z.string() });

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** A schedule as the API shows it. */
export function serializeSchedule(s: Schedule) {
  return {
    id: s.id,
    shortId: s.id.slice(0, 8),
    userId: s.user_id,
    status: s.status,
    kind: s.kind,
    when: s.when_text,
    description: s.description,
    text: s.text,
    timezone: s.timezone,
    cron: s.cron,
    everyMs: s.every_ms,
    runAt: iso(s.run_at),
    nextRunAt: iso(s.next_run_at),
    lastRunAt: iso(s.last_run_at),
    consecutiveFailures: s.consecutive_failures,
    pausedReason: s.paused_reason,
    parentTaskId: s.parent_task_id,
    createdAt: iso(s.created_at),
    updatedAt: iso(s.updated_at),
  };
}

const timezoneJson = z.object({ timezone: z.string() });

/** Registers the schedule routes on an authenticated scope. */
export function registerScheduleRoutes(scope: FastifyInstance, schedules: ScheduleService): void {
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const tags = ['schedules'];
  app.post(
    '/api/schedules',
    {
      schema: {
        tags,
        summary: 'Create a schedule (one-shot or recurring)',
        body: createScheduleBody,
        response: { 201: z.object({ schedule: scheduleJson, nextRunAt: z.string().nullable() }) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = request.body;
      const origin = { platform: 'web', conversationId: caller.userId, userId: caller.userId };
      const common = { origin, priority: body.priority, notifyPolicy: body.notifyPolicy };
      const { schedule, nextRunAt } =
        body.when === undefined
          ? await schedules.createFromText({ ...common, text: body.text })
          : await schedules.create({ ...common, when: body.when, text: body.text });
      return reply.code(201).send({ schedule: serializeSchedule(schedule), nextRunAt: iso(nextRunAt) });
    },
  );

  app.get(
    '/api/schedules',
    {
      schema: {
        tags,
        summary: "The caller's schedules (admins: all=true for everyone's)",
        querystring: listSchedulesQuery,
        response: { 200: z.object({ schedules: z.array(scheduleJson) }) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const list = await schedules.list({ ...caller, all: q.all === 'true' }, { includeEnded: q.ended === 'true' });
      return { schedules: list.map(serializeSchedule) };
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/schedules/:id/${action}`,
      {
        schema: {
          tags,
          summary: `${action === 'pause' ? 'Pause' : 'Resume'} a schedule`,
          params: scheduleParams,
          response: { 200: z.object({ schedule: scheduleJson, changed: z.boolean() }) },
        },
      },
      async (request) => {
        const { schedule, changed } = await schedules[action](request.params.id, callerOf(request));
        return { schedule: serializeSchedule(schedule), changed };
      },
    );
  }

  app.delete(
    '/api/schedules/:id',
    {
      schema: {
        tags,
        summary: 'Delete a schedule',
        params: scheduleParams,
        response: { 200: z.object({ schedule: scheduleJson }) },
      },
    },
    async (request) => {
      const { schedule } = await schedules.delete(request.params.id, callerOf(request));
      return { schedule: serializeSchedule(schedule) };
    },
  );

  app.get(
    '/api/me/timezone',
    { schema: { tags, summary: "The caller's time zone", response: { 200: timezoneJson } } },
    async (request) => ({
      timezone: await schedules.getTimezone(callerOf(request).userId),
    }),
  );

  app.put(
    '/api/me/timezone',
    { schema: { tags, summary: "Set the caller's time zone", body: timezoneBody, response: { 200: timezoneJson } } },
    async (request) => ({ timezone: await schedules.setTimezone(callerOf(request).userId, request.body.timezone) }),
  );
}
