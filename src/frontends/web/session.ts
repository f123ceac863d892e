// Browser sessions of the dashboard: sign-in with an API token or a one-time code, an httpOnly cookie, CSRF tokens.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ForbiddenError, UnauthorizedError } from '../../core/errors.ts';
import type { HubContext } from '../../core/hub-context.ts';
import type { TokenAuthenticator } from './auth.ts';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'sb_session';
/** Header that carries the CSRF token on state-changing requests made with the session cookie. */
export const CSRF_HEADER = 'x-csrf-token';
/** How long a sign-in code printed by `npm start` stays valid. */
const CODE_TTL_S = 600;

/** A signed-in browser: who, and the CSRF token its pages must echo. */
export interface WebSession {
  userId: string;
  csrf: string;
  createdAt: string;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const random = (): string => randomBytes(24).toString('base64url');

/** Sessions and one-time sign-in codes in Redis (shared by every hub process); only hashes of secrets are keys. */
export class SessionStore {
  private readonly prefix: string;
  private readonly ttlS: number;

  constructor(private readonly ctx: HubContext) {
    this.prefix = `${ctx.config.QUEUE_PREFIX}:web`;
    this.ttlS = Math.max(1, Math.round(ctx.config.SESSION_TTL_HOURS * 3600));
  }

  /** Starts a session for a user; returns the cookie value and the session. */
  async create(userId: string): Promise<{ id: string; session: WebSession }> {
    const id = random();
    const session: WebSession = { userId, csrf: random(), createdAt: new Date().toISOString() };
    await this.ctx.redis.set(`${this.prefix}:session:${sha(id)}`, JSON.stringify(session), 'EX', this.ttlS);
    return { id, session };
  }

  /** The session of a cookie value, or null when unknown or expired. */
  async get(id: string): Promise<WebSession | null> {
    const raw = await this.ctx.redis.get(`${this.prefix}:session:${sha(id)}`);
    return raw ? (JSON.parse(raw) as WebSession) : null;
  }

  /** Ends a session. */
  async destroy(id: string): Promise<void> {
    await this.ctx.redis.del(`${this.prefix}:session:${sha(id)}`);
  }

  /** A one-time sign-in code for a user (valid 10 minutes, usable once). */
  async issueCode(userId: string): Promise<string> {
    const code = random();
    await this.ctx.redis.set(`${this.prefix}:code:${sha(code)}`, userId, 'EX', CODE_TTL_S);
    return code;
  }

  /** Redeems a sign-in code: the user it was issued for, or null (unknown, expired or already used). */
  async redeemCode(code: string): Promise<string | null> {
    return this.ctx.redis.getdel(`${this.prefix}:code:${sha(code)}`);
  }
}

/** Whether the CSRF header of a request matches the session's token (constant time). */
export function csrfMatches(request: FastifyRequest, session: WebSession): boolean {
  const sent = request.headers[CSRF_HEADER];
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sha(sent));
  const b = Buffer.from(sha(session.csrf));
  return timingSafeEqual(a, b);
}

const signInBody = z
  .object(
    {
      token: z.string({ error: 'must be a string: an API token from HUB_API_TOKENS' }).min(1).optional(),
      code: z.string({ error: 'must be a string: the code of a sign-in link' }).min(1).optional(),
    },
    { error: () => 'a JSON object like {"token": "..."} is required' },
  )
  .strict()
  .refine((b) => (b.token === undefined) !== (b.code === undefined), 'send either "token" or "code"');

/** What a signed-in browser learns about itself. */
export const sessionJson = z.object({ userId: z.string(), isAdmin: z.boolean(), csrfToken: z.string() });

/** Options of the session routes. */
export interface SessionRouteOptions {
  ctx: HubContext;
  auth: TokenAuthenticator;
  sessions: SessionStore;
}

/** Registers POST/GET/DELETE /api/session (sign-in, who am I, sign-out) on a scope. */
export async function registerSessionRoutes(scope: FastifyInstance, opts: SessionRouteOptions): Promise<void> {
  const { ctx, auth, sessions } = opts;
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const tags = ['session'];
  const view = (s: WebSession) => ({ userId: s.userId, isAdmin: ctx.isAdmin(s.userId), csrfToken: s.csrf });
  const current = async (request: FastifyRequest): Promise<{ id: string; session: WebSession } | null> => {
    const id = request.cookies[SESSION_COOKIE];
    const session = id ? await sessions.get(id) : null;
    return id && session ? { id, session } : null;
  };

  app.post(
    '/api/session',
    {
      schema: {
        tags,
        summary: 'Sign in with an API token or a one-time code; sets the httpOnly session cookie',
        body: signInBody,
        response: { 200: sessionJson },
        security: [],
      },
    },
    async (request, reply) => {
      const { token, code } = request.body;
      const userId = token !== undefined ? auth.userFor(token) : await sessions.redeemCode(code!);
      if (!userId)
        throw new UnauthorizedError(
          token !== undefined
            ? 'The API token is not valid.'
            : 'The sign-in link is not valid any more (it works once, for 10 minutes); sign in with your API token.',
        );
      const { id, session } = await sessions.create(userId);
      setSessionCookie(reply, request, id, ctx.config.SESSION_TTL_HOURS * 3600);
      return view(session);
    },
  );

  app.get(
    '/api/session',
    { schema: { tags, summary: 'The signed-in user and their CSRF token', response: { 200: sessionJson } } },
    async (request) => {
      const found = await current(request);
      if (!found) throw new UnauthorizedError('Not signed in.');
      return view(found.session);
    },
  );

  const signOut = { tags, summary: 'Sign out', response: { 200: z.object({ signedOut: z.literal(true) }) } };
  app.delete('/api/session', { schema: signOut }, async (request, reply) => {
    const found = await current(request);
    if (found) {
      if (!csrfMatches(request, found.session))
        throw new ForbiddenError(`Sign-out needs the ${CSRF_HEADER} header of the session.`);
      await sessions.destroy(found.id);
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { signedOut: true as const };
  });
}

function setSessionCookie(reply: FastifyReply, request: FastifyRequest, id: string, maxAgeS: number): void {
  reply.setCookie(SESSION_COOKIE, id, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: request.protocol === 'https',
    maxAge: Math.round(maxAgeS),
  });
}
