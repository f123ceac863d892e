// The dashboard's share of the web server: cookies, WebSocket support, OpenAPI, sign-in routes and the built UI at `/`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../core/hub-context.ts';
import type { TokenAuthenticator } from './auth.ts';
import { installJsonParser } from './error-handler.ts';
import { registerOpenApi, useZodSchemas } from './openapi.ts';
import { registerSessionRoutes, type SessionStore } from './session.ts';

/** Where `npm run build:ui` writes the dashboard (dist/ui under the package root). */
export function uiDistDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist', 'ui');
}

/** What the dashboard part needs. */
export interface DashboardOptions {
  ctx: HubContext;
  auth: TokenAuthenticator;
  sessions: SessionStore;
  version: string;
}

/**
 * Registers, on the root server and before the API routes: cookies, WebSocket support, the OpenAPI generator
 * (/api/openapi.json, /api/docs), the session routes (/api/session) and the dashboard's files at `/`.
 */
export function registerDashboard(server: FastifyInstance, opts: DashboardOptions): void {
  void server.register(cookie);
  void server.register(websocket, { options: { maxPayload: 64 * 1024 } });
  registerOpenApi(server, opts.version);
  void server.register(async (scope) => {
    installJsonParser(scope);
    useZodSchemas(scope);
    await registerSessionRoutes(scope, opts);
  });
  const dist = uiDistDir();
  if (existsSync(path.join(dist, 'index.html'))) {
    void server.register(fastifyStatic, {
      root: dist,
      prefix: '/',
      wildcard: false,
      setHeaders(res, file) {
        res.header(
          'cache-control',
          file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });
  } else {
    server.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><title>Switchboard</title><p>The dashboard is not built. Run <code>npm run build:ui</code> (npm install does it) and restart the hub. The API is at <a href="/api/docs">/api/docs</a>.</p>',
        ),
    );
  }
}
