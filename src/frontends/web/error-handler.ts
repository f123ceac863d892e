// One place that turns every error of the HTTP API into readable JSON `{error:{code,message}}`, never a stack.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { describeError, HubError, InvalidInputError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** The body of the request is not valid JSON; the message carries the parser's reason. */
export class InvalidJsonError extends HubError {
  constructor(reason: string) {
    super(`The request body is not valid JSON: ${reason}`, 'invalid_json');
  }
}

/** The JSON error body every failing endpoint returns. */
export interface ErrorBody {
  error: { code: string; message: string; retryAfterMs?: number };
}

/** How a schema validation failure names the part of the request that is wrong. */
const VALIDATION_CONTEXT: Record<string, string> = {
  body: 'request body',
  querystring: 'query',
  params: 'path parameters',
  headers: 'headers',
};

const mib = (n: number) => `${Math.round((n / 1048576) * 10) / 10} MiB`;

/** Status, code and message for fastify's own errors (body parsing, media type, size); null for others. */
function describeFastifyError(
  err: FastifyError,
  bodyLimit: number,
): { status: number; code: string; message: string } | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        status: 413,
        code: 'payload_too_large',
        message: `The request body is larger than the ${mib(bodyLimit)} limit (${bodyLimit} bytes). Send less, or link to the material instead.`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        status: 415,
        code: 'unsupported_media_type',
        message: 'Unsupported Content-Type: send the body as JSON with "Content-Type: application/json".',
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, code: 'invalid_json', message: `The request body is not valid JSON: ${err.message}` };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return {
        status: 400,
        code: 'bad_request',
        message: 'The request body does not match its Content-Length header.',
      };
    default:
      break;
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const what = VALIDATION_CONTEXT[err.validationContext ?? ''] ?? 'request';
    const problems = err.validation.map((v) => {
      const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
      return path ? `${path}: ${v.message}` : v.message;
    });
    return { status: 400, code: 'invalid_input', message: `Invalid ${what}: ${problems.join('; ')}.` };
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return {
      status: err.statusCode,
      code: 'bad_request',
      message: err.message || 'The request could not be understood.',
    };
  }
  return null;
}

/** Validates input with a zod schema; failures become InvalidInputError naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
  throw new InvalidInputError(`Invalid ${what}: ${problems.join('; ')}.`);
}

/** Sends an error as JSON with the right status (and Retry-After for rate limits). */
export function sendError(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  if (body.error.retryAfterMs !== undefined)
    reply.header('retry-after', String(Math.ceil(body.error.retryAfterMs / 1000)));
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Installs the error handler and the JSON 404 on a fastify instance; unexpected errors are logged. */
export function installErrorHandling(server: FastifyInstance, log: Logger, bodyLimit: number): void {
  server.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const d: { status: number; code: string; message: string; retryAfterMs?: number } =
      err instanceof InvalidJsonError
        ? { status: 400, code: err.code, message: err.message }
        : ((err instanceof HubError ? null : describeFastifyError(err, bodyLimit)) ?? describeError(err));
    if (d.status >= 500) {
      log.error({ err, method: request.method, url: request.url.split('?')[0] }, 'web request failed');
    }
    const body: ErrorBody = { error: { code: d.code, message: d.message } };
    if (d.retryAfterMs !== undefined) body.error.retryAfterMs = d.retryAfterMs;
    return sendError(reply, d.status, body);
  });
  server.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0];
    return sendError(reply, 404, {
      error: {
        code: 'not_found',
        message: `No such endpoint: ${request.method} ${path}. The API lives under /api (see /api/tasks).`,
      },
    });
  });
}

/**
 * Makes JSON the only body type of a scope (others get 415): fastify's safe parser (prototype poisoning refused),
 * an empty body read as "no body", and parse errors that say what is wrong.
 */
export function installJsonParser(scope: FastifyInstance): void {
  const safeParse = scope.getDefaultJsonParser('error', 'error');
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    safeParse(request, text, (err: Error | null, value?: unknown) => {
      if (!err) {
        done(null, value);
        return;
      }
      let reason = 'it contains a forbidden __proto__ or constructor.prototype key';
      try {
        JSON.parse(text);
      } catch (syntax) {
        reason = (syntax as Error).message;
      }
      done(new InvalidJsonError(reason), undefined);
    });
  });
}
