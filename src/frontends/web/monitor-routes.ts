// Web monitors over HTTP: create, list, run now, pause, resume, delete; and the public diff page of a change.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { MonitorService, MonitorView } from '../../core/monitors/monitor-service.ts';
import { callerOf } from './auth.ts';
import { useZodSchemas, zodCompilers } from './openapi.ts';

/** Body of POST /api/monitors. */
export const createMonitorBody = z
  .object(
    {
      url: z.string({ error: 'must be a string, the http(s) address of the page' }).min(1, 'is required').max(4000),
      when: z.string({ error: 'must be a string, e.g. "every day at 9:00"' }).min(1, 'is required'),
      selector: z.string({ error: 'must be a CSS selector string, e.g. "#content"' }).max(500).optional(),
      ignore: z
        .array(z.string({ error: 'each ignore pattern is a regular expression string' }).max(200), {
          error: 'must be a list of regular expressions, e.g. ["Updated: .*"]',
        })
        .max(20, 'at most 20 patterns')
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type'
          ? 'a JSON object like {"url": "https://example.org/page", "when": "every day at 9:00"} is required'
          : undefined,
    },
  )
  .strict();

const idParams = z.object({ id: z.string() });
const listQuery = z.object({ all: z.enum(['true', 'false'], { error: 'must be true or false' }).optional() });

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** A monitor as the API shows it. */
export function serializeMonitor({ monitor: m, schedule: s }: MonitorView) {
  return {
    id: m.id,
    shortId: m.id.slice(0, 8),
    userId: m.user_id,
    url: m.url,
    selector: m.selector,
    ignore: m.ignore,
    status: s.status,
    when: s.when_text,
    description: s.description,
    timezone: s.timezone,
    scheduleId: s.id,
    nextRunAt: iso(s.next_run_at),
    lastCheckedAt: iso(m.last_checked_at),
    lastChangedAt: iso(m.last_changed_at),
    checks: m.checks,
    changes: m.changes,
    pausedReason: s.paused_reason,
    createdAt: iso(m.created_at),
  };
}

/** A monitor as the API shows it (the shape of serializeMonitor). */
export const monitorJson = z.object({
  id: z.string(),
  shortId: z.string(),
  userId: z.string(),
  url: z.string(),
  selector: z.string().nullable(),
  ignore: z.array(z.string()),
  status: z.string().describe('Status of its schedule: active, paused, ended'),
  when: z.string(),
  description: z.string(),
  timezone: z.string(),
  scheduleId: z.string(),
  nextRunAt: z.string().nullable(),
  lastCheckedAt: z.string().nullable(),
  lastChangedAt: z.string().nullable(),
  checks: z.number(),
  changes: z.number(),
  pausedReason: z.string().nullable(),
  createdAt: z.string().nullable(),
});
const monitorOnly = z.object({ monitor: monitorJson });

/**
 * Registers the monitor routes: the API under `api` (an authenticated scope), and GET /monitor-diffs/:id on
 * `server` (no token: the random id in the link sent to the owner is the key).
 */
export function registerMonitorRoutes(server: FastifyInstance, api: FastifyInstance, monitors: MonitorService): void {
  useZodSchemas(api);
  const app = api.withTypeProvider<ZodTypeProvider>();
  const tags = ['monitors'];
  const one = { tags, params: idParams };

  app.post(
    '/api/monitors',
    {
      schema: {
        tags,
        summary: 'Watch a web page on a schedule; the owner hears of each real change',
        body: createMonitorBody,
        response: { 201: z.object({ monitor: monitorJson, firstRunTaskId: z.string().nullable() }) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const origin = { platform: 'web', conversationId: caller.userId, userId: caller.userId };
      const view = await monitors.create({ origin, ...request.body });
      return reply.code(201).send({ monitor: serializeMonitor(view), firstRunTaskId: view.firstRunTaskId ?? null });
    },
  );

  app.get(
    '/api/monitors',
    {
      schema: {
        tags,
        summary: "The caller's monitors (admins: everyone's with all=true)",
        querystring: listQuery,
        response: { 200: z.object({ monitors: z.array(monitorJson) }) },
      },
    },
    async (request) => {
      const list = await monitors.list({ ...callerOf(request), all: request.query.all === 'true' });
      return { monitors: list.map(serializeMonitor) };
    },
  );

  app.get(
    '/api/monitors/:id',
    { schema: { ...one, summary: 'One monitor (full id or prefix)', response: { 200: monitorOnly } } },
    async (request) => ({ monitor: serializeMonitor(await monitors.find(request.params.id, callerOf(request))) }),
  );

  app.post(
    '/api/monitors/:id/run',
    {
      schema: {
        ...one,
        summary: 'Check the page now (the monitor must be active)',
        response: { 202: z.object({ taskId: z.string() }) },
      },
    },
    async (request, reply) => reply.code(202).send(await monitors.runNow(request.params.id, callerOf(request))),
  );

  const controls = { pause: 'Pause a monitor', resume: 'Resume a paused monitor', delete: 'Delete a monitor' } as const;
  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/monitors/:id/${action}`,
      { schema: { ...one, summary: controls[action], response: { 200: monitorOnly } } },
      async (request) => ({
        monitor: serializeMonitor(await monitors.control(action, request.params.id, callerOf(request))),
      }),
    );
  }

  app.delete(
    '/api/monitors/:id',
    { schema: { ...one, summary: controls.delete, response: { 200: monitorOnly } } },
    async (request) => ({
      monitor: serializeMonitor(await monitors.control('delete', request.params.id, callerOf(request))),
    }),
  );

  server.withTypeProvider<ZodTypeProvider>().get(
    '/monitor-diffs/:id',
    {
      ...zodCompilers,
      schema: {
        params: idParams,
        tags,
        summary: 'The text diff of one change (no token: the random id in the link is the key)',
        security: [],
        response: { 200: { content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (request, reply) => {
      const { url, diff, checkedAt } = await monitors.diffOf(request.params.id);
      return reply
        .type('text/plain; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .send(`Changes on ${url} found ${checkedAt.toISOString()}\n\n${diff}`);
    },
  );
}
