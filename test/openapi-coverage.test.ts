// The OpenAPI description covers the API: every route the hub registers under /api (and the public routes) appears in
// /api/openapi.json with a response schema, so a route added without declared schemas fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const ADMIN = 'admin-token-openapi';
/** Routes that are deliberately not in the description: the description itself and its reference page. */
const UNDOCUMENTED = [/^\/api\/openapi\.json$/, /^\/api\/docs(\/|$)/];

/** Every method and path of a fastify tree printed with `printRoutes({ commonPrefix: false })`. */
function routesOf(tree: string): Array<{ method: string; path: string }> {
  const out: Array<{ method: string; path: string }> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/^\/?/, '/');
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) out.push({ method, path });
  }
  return out;
}

/** `/api/tasks/:id` → `/api/tasks/{id}` as OpenAPI writes it. */
const openapiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('OpenAPI coverage', () => {
  let h: Harness;
  let doc: any;
  let routes: Array<{ method: string; path: string }>;
  beforeAll(async () => {
    h = await createHarness({ workers: false, env: { HUB_API_TOKENS: `root=${ADMIN}`, HUB_ADMINS: 'web:root' } });
    const res = await fetch(`${h.hub.web.url()}/api/openapi.json`);
    doc = await res.json();
    routes = routesOf(h.hub.web.server.printRoutes({ commonPrefix: false }));
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reads the route tree (the walk itself works)', () => {
    expect(routes).toContainEqual({ method: 'GET', path: '/api/tasks/:id' });
    expect(routes).toContainEqual({ method: 'POST', path: '/api/tasks' });
    expect(routes).toContainEqual({ method: 'GET', path: '/health' });
    expect(routes.filter((r) => r.path.startsWith('/api/')).length).toBeGreaterThan(30);
  });

  it('describes every /api route with a success response schema', () => {
    const missing: string[] = [];
    for (const { method, path } of routes) {
      if (!path.startsWith('/api/') || method === 'HEAD' || UNDOCUMENTED.some((re) => re.test(path))) continue;
      const op = doc.paths?.[openapiPath(path)]?.[method.toLowerCase()];
      const success = Object.entries(op?.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      const typed = success.some(([, r]: [string, any]) =>
        Object.values(r.content ?? {}).some((c: any) => c?.schema && Object.keys(c.schema).length > 0),
      );
      if (!typed) missing.push(`${method} ${path}${op ? ' (no response schema)' : ' (not described)'}`);
    }
    expect(missing).toEqual([]);
  });

  it('describes the routes outside /api that clients call: health, readiness, metrics, signed file links', () => {
    const missing = ['/health', '/ready', '/metrics', '/files/{id}/{name}', '/monitor-diffs/{id}'].filter(
      (path) => !doc.paths[path]?.get?.responses?.['200'],
    );
    expect(missing).toEqual([]);
    expect(doc.paths['/ready'].get.responses['503']).toBeDefined();
  });

  it('types the converted routes from their zod schemas', () => {
    const pair = doc.paths['/api/admin/access/pair'].post;
    expect(pair.requestBody.content['application/json'].schema.required).toEqual(['code']);
    const monitor = doc.paths['/api/monitors'].post;
    expect(monitor.requestBody.content['application/json'].schema.required).toEqual(['url', 'when']);
    expect(monitor.responses['201'].content['application/json'].schema.properties.monitor).toBeDefined();
    expect(Object.keys(doc.paths['/api/tasks'].post.requestBody.content)).toEqual([
      'application/json',
      'multipart/form-data',
    ]);
    const upload = doc.paths['/api/tasks/{id}/artifacts'].post;
    expect(Object.keys(upload.requestBody.content)).toEqual(['multipart/form-data']);
    expect(upload.requestBody.content['multipart/form-data'].schema.properties.file.items.format).toBe('binary');
    const stream = doc.paths['/api/tasks/{id}/stream'].get;
    expect(Object.keys(stream.responses['200'].content)).toEqual(['text/event-stream']);
    expect(stream.parameters.map((p: any) => `${p.in}:${p.name}`)).toEqual(
      expect.arrayContaining(['path:id', 'query:after', 'header:last-event-id']),
    );
    const error = doc.paths['/api/tasks/{id}'].get.responses.default.content['application/json'].schema;
    expect(error.properties.error.required).toEqual(['code', 'message']);
    expect(error.$schema).toBeUndefined();
    const traces = doc.paths['/api/tasks/{id}/traces'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(traces.properties)).toEqual(['taskId', 'plannedBy', 'totals', 'traces', 'usage']);
  });

  it('still answers the converted routes as before (response schemas do not drop fields)', async () => {
    const get = async (path: string) => {
      const res = await fetch(`${h.hub.web.url()}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    expect(await get('/health')).toEqual({ status: 200, body: { ok: true } });
    expect((await get('/ready')).body).toMatchObject({ ok: true, down: [], postgres: { ok: true } });
    expect((await get('/api/admin/access')).body).toEqual({
      open: expect.any(Boolean),
      patterns: expect.any(Array),
      pairing: false,
      grants: [],
      pending: [],
    });
    expect((await get('/api/admin/success-rates')).body).toMatchObject({ windowMinutes: expect.any(Number) });
    expect((await get('/api/monitors')).body).toEqual({ monitors: [] });
  });
});
