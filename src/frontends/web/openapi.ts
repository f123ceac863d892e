// OpenAPI 3.1 from the zod schemas routes declare: /api/openapi.json and the interactive reference at /api/docs.
import swagger from '@fastify/swagger';
import scalar from '@scalar/fastify-api-reference';
import type { FastifyInstance, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { $ZodType } from 'zod/v4/core';

type Transform = typeof jsonSchemaTransform;

/** Route schemas made of zod go through the zod transform; plain JSON schemas (other plugins) pass unchanged. */
const zodOrPlain: Transform = (doc) => {
  const s = doc.schema as Record<string, unknown> | undefined;
  const parts = s ? [s.body, s.querystring, s.params, s.headers, ...Object.values((s.response as object) ?? {})] : [];
  const plain = parts.some((p) => p != null && !(p instanceof $ZodType) && !isContentWrapper(p));
  if (plain) return { schema: doc.schema, url: doc.url };
  const out = jsonSchemaTransform(doc);
  const response = (out.schema as { response?: Record<string, unknown> } | undefined)?.response;
  if (response && !('default' in response)) response.default = errorResponse;
  return out;
};

/** The body of every error answer (error-handler.ts): 400/401/403/404/409/413/415/429/5xx. */
export const errorBodyJson = z.object({
  error: z.object({
    code: z.string().describe('e.g. invalid_input, unauthorized, forbidden, not_found, payload_too_large'),
    message: z.string().describe('What went wrong and how to fix it, for people'),
    retryAfterMs: z.number().optional().describe('When rate limited: wait this long (also in Retry-After)'),
  }),
});
const withoutDialect = ({ $schema: _, ...rest }: Record<string, unknown>) => rest;
const errorResponse = {
  description: 'An error: `{error: {code, message}}` (never a stack trace)',
  content: { 'application/json': { schema: withoutDialect(z.toJSONSchema(errorBodyJson)) } },
};

const isContentWrapper = (p: unknown): boolean => typeof p === 'object' && p !== null && 'content' in p;

/**
 * Installs the OpenAPI generator on the root server. Must be registered before the routes: every route registered
 * after it that declares zod schemas (`schema: { body, querystring, params, response }`) appears in the document.
 */
export function registerOpenApi(server: FastifyInstance, version: string): void {
  void server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard hub API',
        version,
        description:
          'Tasks, schedules and admin of a Switchboard hub. Authenticate with `Authorization: Bearer <token>` ' +
          '(HUB_API_TOKENS) or with the dashboard session cookie plus the `x-csrf-token` header on changes.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'sb_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: zodOrPlain,
  });
  server.get('/api/openapi.json', { schema: { hide: true } }, async () => server.swagger());
  void server.register(scalar, {
    routePrefix: '/api/docs',
    // Offline-friendly: no web fonts, telemetry, developer toolbar or AI agent (each would call scalar.com).
    configuration: {
      url: '/api/openapi.json',
      title: 'Switchboard API',
      withDefaultFonts: false,
      telemetry: false,
      showDeveloperTools: 'never',
      agent: { disabled: true },
      mcp: { disabled: true },
    },
  });
}

/**
 * Makes zod schemas validate the routes of a scope (errors map to readable 400s in error-handler.ts). Every route
 * file calls it on the scope it is given, so its schemas work wherever it is registered.
 */
export function useZodSchemas(scope: FastifyInstance): void {
  scope.setValidatorCompiler(validatorCompiler);
  scope.setSerializerCompiler(serializerCompiler);
}

// biome-ignore lint/suspicious/noExplicitAny: a route's compilers are typed by its own schema; these take any zod schema.
type AnyCompiler = FastifySchemaCompiler<any>;
/** Route options that make one route on a plain (non-zod) scope validate and serialize with its zod schemas. */
export const zodCompilers = {
  validatorCompiler: validatorCompiler as AnyCompiler,
  serializerCompiler: serializerCompiler as FastifySerializerCompiler<unknown>,
};
