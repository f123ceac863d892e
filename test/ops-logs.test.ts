// Logs at debug level carry request ids into task logs and never contain a configured secret; phone numbers are
// hashed. Runs a real hub (HTTP API, worker, notifier) on real Redis and Postgres with every secret configured.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { createLogger, lazyChild, REDACT_PATHS } from '../src/core/logger.ts';
import { startHub, type Hub } from '../src/main.ts';
import { createTestEnv, type TestEnv } from './helpers/test-env.ts';

const SECRETS = {
  METRICS_TOKEN: 'metrics-secret-7f3a9c1e55',
  TELEGRAM_BOT_TOKEN: '123456:telegram-secret-AAbbCCdd',
  TELEGRAM_WEBHOOK_SECRET: 'tgwebhooksecret42',
  DISCORD_BOT_TOKEN: 'discord-secret-token-x9',
  SLACK_BOT_TOKEN: 'xoxb-slack-secret-123',
  SLACK_SIGNING_SECRET: 'slack-signing-secret-99',
  TWILIO_AUTH_TOKEN: 'twilio-secret-auth-31',
};
const ALICE = 'alice-secret-token-1';
const PHONE = '+15551234567';

let env: TestEnv;
let hub: Hub;
const lines: string[] = [];

beforeAll(async () => {
  env = await createTestEnv({ ...SECRETS, PORT: '0', HUB_API_TOKENS: `alice=${ALICE},admin=admin-token-333` });
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  hub = await startHub({
    config: { ...env.config, LOG_LEVEL: 'debug' },
    database: env.database,
    embeddedWorkers: true,
    frontendFactories: [],
    log: createLogger('debug', 'switchboard', sink),
  });
});

afterAll(async () => {
  await hub?.stop();
  await env?.close();
});

describe('logs', () => {
  it('carry the request id into the task logs, and hold no configured secret at debug level', async () => {
    const base = hub.web.url();
    const res = await fetch(`${base}/api/tasks`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ALICE}`,
        'content-type': 'application/json',
        'x-request-id': 'req-from-client-1',
        'x-telegram-bot-api-secret-token': SECRETS.TELEGRAM_WEBHOOK_SECRET,
        cookie: `session=${SECRETS.SLACK_SIGNING_SECRET}`,
      },
      body: JSON.stringify({ text: 'echo hello logs' }),
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-request-id')).toBe('req-from-client-1');
    const { task } = (await res.json()) as any;
    await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${SECRETS.METRICS_TOKEN}` } });
    await fetch(`${base}/api/tasks`, { headers: { authorization: 'Bearer wrong-token-abc' } });
    await new Promise<void>((resolve) => {
      const check = () => hub.ctx.db.selectFrom('tasks').select('status').where('id', '=', task.id).executeTakeFirst();
      hub.ctx.onEvents(async (evs) => {
        if (evs.some((e) => e.taskId === task.id && e.type === 'delivered')) resolve();
      });
      void check().then((t) => t?.status === 'COMPLETED' && resolve());
    });
    // Whatever a log call is handed, secrets and headers are redacted and phone numbers hashed.
    hub.ctx.log.debug({ config: hub.config, req: { headers: { authorization: `Bearer ${ALICE}` } } }, 'config dump');
    hub.ctx.log.info({ From: PHONE, user: `sms:${PHONE}`, body: { To: PHONE } }, 'sms inbound');

    const all = lines.join('\n');
    expect(lines.some((l) => JSON.parse(l).level === 20)).toBe(true); // debug lines were written
    for (const [name, secret] of Object.entries({ ...SECRETS, ALICE }))
      expect(all.includes(secret), `${name} leaked into the logs`).toBe(false);
    expect(all).not.toContain(PHONE);
    const sms = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'sms inbound');
    expect(sms.user).toMatch(/^sms:#[0-9a-f]{12}$/);
    expect(sms.From).toMatch(/^#[0-9a-f]{12}$/);
    // Fastify's request log and the task's own log line share the request id.
    const parsed = lines.map((l) => JSON.parse(l));
    expect(parsed.some((l) => l.reqId === 'req-from-client-1' && l.msg === 'incoming request')).toBe(true);
    expect(parsed.some((l) => l.reqId === 'req-from-client-1' && l.taskId === task.id)).toBe(true);
    // The worker's line for the job carries its ids (its child logger is made when the job first logs).
    expect(
      parsed.some(
        (l) => l.msg === 'job succeeded' && l.taskId === task.id && l.subtaskId && l.jobId && l.attempt === 1,
      ),
    ).toBe(true);
  });

  it('makes a lazy child once, on first use, with its bindings', () => {
    const out: string[] = [];
    const parent = createLogger(
      'info',
      'switchboard',
      new Writable({
        write(chunk, _enc, done) {
          out.push(String(chunk));
          done();
        },
      }),
    );
    const child = vi.spyOn(parent, 'child');
    const log = lazyChild(parent, { jobId: 'j1', token: 'never-shown' });
    expect(child).not.toHaveBeenCalled();
    log().info('one');
    log().info('two');
    expect(child).toHaveBeenCalledTimes(1);
    const [first] = out.map((l) => JSON.parse(l));
    expect(first).toMatchObject({ jobId: 'j1', msg: 'one' });
    expect(out.join('')).not.toContain('never-shown');
  });

  it('redacts every secret-looking variable of the config schema (a new one must be added to REDACT_PATHS)', () => {
    const source = readFileSync(new URL('../src/core/config.ts', import.meta.url), 'utf8');
    const names = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
    const secret = names.filter(
      (n) =>
        /TOKEN|SECRET|PASSWORD|API_KEY|_URL$/.test(n) &&
        !/_TOKENS$|TOKEN_BUDGET/.test(n) &&
        !/_API_URL$|_API_ROOT$|PUBLIC_URL|SWITCHBOARD_URL|OTEL_/.test(n),
    );
    expect(secret.length).toBeGreaterThan(5);
    const missing = secret.filter((n) => !REDACT_PATHS.includes(`config.${n}`));
    expect(missing).toEqual([]);
  });
});
