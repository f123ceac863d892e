// Authentication of the HTTP API: bearer token -> `web:<name>` (constant time), or the dashboard's session cookie.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../../core/errors.ts';
import type { HubContext } from '../../core/hub-context.ts';
import { CSRF_HEADER, csrfMatches, SESSION_COOKIE, type SessionStore } from './session.ts';

/** Who is calling: `web:<name>` and whether HUB_ADMINS lists them. */
export interface WebCaller {
  userId: string;
  isAdmin: boolean;
  /** How the caller proved who they are: a bearer token, or the dashboard's session cookie. */
  via: 'bearer' | 'session';
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Resolves bearer tokens to user ids without leaking, through timing, how much of a token matched. */
export class TokenAuthenticator {
  private readonly entries: Array<{ hash: Buffer; name: string }>;

  constructor(tokens: Map<string, string>) {
    this.entries = [...tokens].map(([token, name]) => ({ hash: digest(token), name }));
  }

  /** The `web:<name>` user of a token, or null. Every entry is compared, whatever matches. */
  userFor(token: string): string | null {
    const presented = digest(token);
    let found: string | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(presented, e.hash) && found === null) found = `web:${e.name}`;
    }
    return found;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

const callers = new WeakMap<FastifyRequest, WebCaller>();

/** The authenticated caller of a request (set by the `authenticate` hook); throws if there is none. */
export function callerOf(request: FastifyRequest): WebCaller {
  const caller = callers.get(request);
  if (!caller) throw new UnauthorizedError();
  return caller;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * An onRequest hook that records the caller from a bearer token or, failing that, the dashboard's session cookie
 * (state-changing requests with the cookie must carry its CSRF token); refuses everyone else with 401.
 */
export function authenticate(ctx: HubContext, auth: TokenAuthenticator, sessions?: SessionStore) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    const cookie = sessions && !token ? request.cookies?.[SESSION_COOKIE] : undefined;
    if (cookie && sessions) {
      const session = await sessions.get(cookie);
      if (session) {
        if (!SAFE_METHODS.has(request.method) && !csrfMatches(request, session))
          throw new ForbiddenError(
            `The ${CSRF_HEADER} header is missing or wrong (requests made with the session cookie must echo the token from GET /api/session).`,
          );
        callers.set(request, { userId: session.userId, isAdmin: ctx.isAdmin(session.userId), via: 'session' });
        return;
      }
    }
    if (!token) {
      reply.header('www-authenticate', 'Bearer');
      throw new UnauthorizedError(
        'Authentication required: send "Authorization: Bearer <token>" (tokens are set with HUB_API_TOKENS).',
      );
    }
    const userId = auth.userFor(token);
    if (!userId) {
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new UnauthorizedError('The API token is not valid.');
    }
    callers.set(request, { userId, isAdmin: ctx.isAdmin(userId), via: 'bearer' });
  };
}

/** An onRequest hook (after `authenticate`) that refuses non-admins with 403. */
export function requireAdmin() {
  return async (request: FastifyRequest): Promise<void> => {
    if (!callerOf(request).isAdmin) throw new ForbiddenError('This endpoint is for admins only (HUB_ADMINS).');
  };
}
