// The hub's configuration: one zod schema over environment variables, validated once at start.
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { PRIORITIES, NOTIFY_POLICIES } from './types.ts';
import { parsePatterns, validatePattern } from './capability-pattern.ts';

const identity = /^[a-z][a-z0-9_-]*:[^\s,]+$/;

const policy = z
  .object({
    attempts: z.number().int().min(1).max(100).optional(),
    backoffMs: z.number().int().min(0).max(86_400_000).optional(),
    jitter: z.number().min(0).max(1).optional(),
    timeoutMs: z.number().int().min(10).max(86_400_000).optional(),
  })
  .strict();

// ── files: command allow-list entry ──
const commandEntry = z
  .object({
    argv0: z.string().min(1),
    args: z.array(z.string()).optional(),
    allowArgs: z.union([z.literal(true), z.string()]).optional(),
    cwd: z.string().optional(),
    timeoutMs: z.number().int().min(10).max(86_400_000).optional(),
    env: z.record(z.string(), z.string()).optional(),
    permanentExitCodes: z.array(z.number().int()).optional(),
  })
  .strict();
/** One COMMAND_ALLOWLIST entry: what `command.run` may start under a name. */
export type CommandEntry = z.infer<typeof commandEntry>;

/** Retry and timeout settings of one capability. */
export type CapabilityPolicy = Required<z.infer<typeof policy>>;

const csv = (s: string | undefined) =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

const schema = z.object({
  DATABASE_URL: z
    .string()
    .url('must be a postgres:// URL')
    .optional()
    .refine((u) => !u || /^postgres(ql)?:\/\//.test(u), 'must start with postgres:// or postgresql://'),
  DATA_DIR: z.string().default('./.data'),
  REDIS_URL: z
    .string()
    .optional()
    .refine((u) => !u || /^rediss?:\/\//.test(u), 'must start with redis:// or rediss://'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-]+$/, 'letters, digits, _ and - only')
    .default('sb'),
  PORT: z.coerce
    .number('must be a whole-number port from 0 to 65535, e.g. PORT=3000')
    .int('must be a whole-number port from 0 to 65535, e.g. PORT=3000')
    .min(0, 'must be a whole-number port from 0 to 65535, e.g. PORT=3000')
    .max(65535, 'must be a whole-number port from 0 to 65535, e.g. PORT=3000')
    .default(3000),
  HOST: z.string().default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HUB_ADMINS: z
    .string()
    .optional()
    .transform(csv)
    .refine((xs) => xs.every((x) => identity.test(x)), 'each admin is platform:id, e.g. telegram:42,web:alice'),
  HUB_API_TOKENS: z
    .string()
    .optional()
    .transform(csv)
    .refine(
      (xs) => xs.every((x) => /^[^=\s]+=\S{8,}$/.test(x)),
      'each entry is user=token with a token of 8+ characters, e.g. alice=s3cretT0ken',
    )
    .transform(
      (xs) =>
        new Map(
          xs.map((x) => {
            const i = x.indexOf('=');
            return [x.slice(i + 1), x.slice(0, i)] as const;
          }),
        ),
    ),
  MAX_REQUEST_CHARS: z.coerce.number().int().min(1).max(1_000_000).default(20_000),
  MAX_INFLIGHT_PER_USER: z.coerce.number().int().min(1).max(100_000).default(20),
  MAX_TASKS_PER_HOUR: z.coerce.number().int().min(1).max(1_000_000).default(120),
  RETENTION_DAYS: z.coerce.number().min(0.0001).max(36_500).default(30),
  RETENTION_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  SCHEDULE_MAX_FAILURES: z.coerce.number().int().min(1).max(1000).default(3),
  SCHEDULE_MIN_INTERVAL_MS: z.coerce.number().int().min(1000).default(60_000),
  DEFAULT_PRIORITY: z.enum(PRIORITIES).default('normal'),
  DEFAULT_NOTIFY_POLICY: z.enum(NOTIFY_POLICIES).default('state_changes'),
  NOTIFY_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  NOTIFY_BACKOFF_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  PROGRESS_INTERVAL_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
  RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  OUTBOX_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  DEFAULT_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(3),
  DEFAULT_BACKOFF_MS: z.coerce.number().int().min(0).default(1000),
  DEFAULT_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  DEFAULT_TIMEOUT_MS: z.coerce.number().int().min(10).default(300_000),
  CAPABILITY_POLICIES: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return {} as Record<string, z.infer<typeof policy>>;
      try {
        const parsed = z.record(z.string(), policy).safeParse(JSON.parse(s));
        if (parsed.success) return parsed.data;
        ctx.addIssue({
          code: 'custom',
          message: `bad entry: ${parsed.error.issues[0]?.message ?? 'invalid'} (expected {"cap":{"attempts":3,"backoffMs":1000,"jitter":0.2,"timeoutMs":60000}})`,
        });
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON (e.g. {"demo.flaky":{"attempts":5}})' });
      }
      return z.NEVER;
    }),
  WORKER_CAPABILITIES: z
    .string()
    .default('demo.*')
    .transform(parsePatterns)
    .refine(
      (xs) => xs.length > 0 && xs.every((x) => validatePattern(x) === null),
      'comma-separated capability patterns, e.g. demo.*,web.fetch',
    ),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  WORKER_HEARTBEAT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  WORKER_LOCK_MS: z.coerce.number().int().min(500).max(3_600_000).default(30_000),
  EMBEDDED_WORKERS: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  PUBLIC_URL: z.string().url('must be the public https:// URL of this hub, e.g. https://hub.example.org').optional(),
  // Telegram (grammy): enabled when TELEGRAM_BOT_TOKEN is set.
  TELEGRAM_BOT_TOKEN: z
    .string()
    .regex(/^\d+:[\w-]+$/, 'looks like 123456:ABC-DEF..., from @BotFather')
    .optional(),
  TELEGRAM_API_ROOT: z
    .string()
    .url()
    .default('https://api.telegram.org')
    .transform((u) => u.replace(/\/+$/, '')),
  TELEGRAM_WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, '1-256 characters of A-Z a-z 0-9 _ -')
    .optional(),
  // Discord (discord.js): enabled when DISCORD_BOT_TOKEN and DISCORD_APPLICATION_ID are set.
  DISCORD_BOT_TOKEN: z.string().min(10).optional(),
  DISCORD_APPLICATION_ID: z.string().regex(/^\d+$/, 'the numeric application id').optional(),
  DISCORD_API_URL: z
    .string()
    .url()
    .default('https://discord.com/api')
    .transform((u) => u.replace(/\/+$/, '')),
  DISCORD_PUBLIC_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'the 64-hex-character public key of the application')
    .optional(),
  DISCORD_MODE: z.enum(['gateway', 'http']).default('gateway'),
  // Slack (@slack/bolt): enabled when SLACK_BOT_TOKEN is set, with SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode).
  SLACK_BOT_TOKEN: z.string().startsWith('xoxb-', 'starts with xoxb-').optional(),
  SLACK_SIGNING_SECRET: z.string().min(8).optional(),
  SLACK_APP_TOKEN: z.string().startsWith('xapp-', 'starts with xapp-').optional(),
  SLACK_API_URL: z
    .string()
    .url()
    .default('https://slack.com/api/')
    .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
  // SMS (twilio): enabled when TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are set.
  TWILIO_ACCOUNT_SID: z
    .string()
    .regex(/^AC[0-9a-fA-F]{32}$/, 'starts with AC followed by 32 hex characters')
    .optional(),
  TWILIO_AUTH_TOKEN: z.string().min(8).optional(),
  TWILIO_FROM: z
    .string()
    .regex(
      /^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$/,
      'an E.164 number like +15551234567 or a Messaging Service SID (MG...)',
    )
    .optional(),
  TWILIO_API_URL: z.string().url().optional(),
  SMS_MAX_SEGMENTS: z.coerce.number().int().min(1).max(10).default(4),
  // ── Access policy and pairing ──
  HUB_ALLOWED_USERS: z
    .string()
    .optional()
    .transform(csv)
    .refine(
      (xs) => xs.every((x) => x === '*' || /^([a-z][a-z0-9_-]*|\*):\S+$/.test(x)),
      'comma-separated platform:id patterns where * matches anything, e.g. telegram:*,slack:U*,sms:+1555*',
    ),
  HUB_PAIRING: z
    .enum(['true', 'false'], { error: 'must be true (unknown users get a code an admin approves) or false' })
    .default('false')
    .transform((v) => v === 'true'),
  HUB_PAIRING_CODE_TTL_MS: z.coerce
    .number({ error: 'must be a number of milliseconds, e.g. 86400000 for a day' })
    .int()
    .min(60_000, 'must be at least 60000 (one minute)')
    .default(86_400_000),
  HUB_REFUSAL_INTERVAL_MS: z.coerce
    .number({ error: 'must be a number of milliseconds, e.g. 3600000 for an hour' })
    .int()
    .min(1000, 'must be at least 1000')
    .default(3_600_000),
  // ── Process, CLI and packaging ──
  LOG_FORMAT: z
    .enum(['auto', 'pretty', 'json'], 'must be auto (pretty on a terminal, else JSON), pretty or json')
    .default('auto'),
  // ── AI: LLM planner, LLM capabilities, budgets ──
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z
    .string()
    .url('must be the base URL of an OpenAI-compatible API incl. /v1, e.g. http://127.0.0.1:11434/v1 for Ollama')
    .optional(),
  LLM_MODEL: z.string().min(1).default('gpt-5-mini'),
  LLM_PLANNER_MODEL: z.string().min(1).optional(),
  LLM_STRUCTURED_OUTPUT: z
    .enum(
      ['json_schema', 'json_object', 'prompt'],
      'json_schema, json_object or prompt (for servers that ignore schemas)',
    )
    .default('json_schema'),
  LLM_CONTEXT_TOKENS: z.coerce
    .number('a number of tokens, e.g. 32000')
    .int()
    .min(256, 'at least 256 tokens')
    .default(32_000),
  LLM_PRICES: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const price = z.object({
        input: z.number().min(0),
        cachedInput: z.number().min(0).optional(),
        output: z.number().min(0),
      });
      if (!s) return {} as Record<string, z.infer<typeof price>>;
      try {
        const parsed = z.record(z.string(), price.strict()).safeParse(JSON.parse(s));
        if (parsed.success) return parsed.data;
      } catch {
        /* reported below */
      }
      ctx.addIssue({
        code: 'custom',
        message:
          'JSON of USD per 1M tokens by model, e.g. {"gpt-5-mini":{"input":0.25,"cachedInput":0.025,"output":2}}',
      });
      return z.NEVER;
    }),
  PLANNER: z.enum(['auto', 'llm', 'rules'], 'auto, llm or rules').default('auto'),
  TASK_BUDGET_USD: z.coerce.number('USD per task, e.g. 0.50 (0 = no limit)').min(0).default(0.5),
  TASK_TOKEN_BUDGET: z.coerce.number('tokens per task, e.g. 200000 (0 = no limit)').int().min(0).default(500_000),
  USER_DAILY_BUDGET_USD: z.coerce.number('USD per user and day, e.g. 5 (0 = no limit)').min(0).default(5),
  LLM_CACHE_TTL_MS: z.coerce
    .number('milliseconds, e.g. 86400000 (0 = no result cache)')
    .int()
    .min(0)
    .default(86_400_000),
  LLM_MAX_RETRIES: z.coerce.number('a number of retries, e.g. 2').int().min(0).max(10).default(2),
  LLM_TIMEOUT_MS: z.coerce.number('milliseconds, e.g. 120000').int().min(1000).default(120_000),
  // ── Web capabilities: fetch, search, monitor ──
  FETCH_MAX_BYTES: z.coerce
    .number({ error: 'must be a number of bytes, e.g. 2097152 (2 MB)' })
    .int()
    .min(1024, 'must be at least 1024 bytes')
    .max(100 * 1024 * 1024, 'must be at most 104857600 (100 MB)')
    .default(2 * 1024 * 1024),
  FETCH_MAX_CHARS: z.coerce.number().int().min(1000, 'must be at least 1000 characters').default(100_000),
  FETCH_USER_AGENT: z
    .string()
    .min(3, 'must name the bot honestly, e.g. "SwitchboardBot/1.0 (+https://your.site/bot)"')
    .default('SwitchboardBot/0.1 (self-hosted assistant hub; fetches pages its users ask for)'),
  FETCH_RESPECT_ROBOTS: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .transform((v) => v === 'true'),
  FETCH_ALLOW_HOSTS: z
    .string()
    .optional()
    .transform(csv)
    .refine(
      (xs) => xs.every((x) => !/[/@\s]/.test(x) && (x.includes('::') || !/:\d*$/.test(x))),
      'comma-separated host names or IPs, without scheme or port, e.g. intranet.example,10.0.0.5',
    ),
  FETCH_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(10_000),
  FETCH_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(15_000),
  FETCH_BODY_TIMEOUT_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(15_000),
  FETCH_TOTAL_TIMEOUT_MS: z.coerce.number().int().min(100, 'must be at least 100 ms').default(30_000),
  FETCH_HOST_DELAY_MS: z.coerce.number().int().min(0, 'must be 0 or more milliseconds').default(1000),
  SEARCH_PROVIDER: z.enum(['searxng', 'brave', 'tavily'], { error: 'must be searxng, brave or tavily' }).optional(),
  SEARXNG_URL: z.string().url('must be the base URL of a SearXNG instance, e.g. http://searxng:8080').optional(),
  BRAVE_API_KEY: z.string().min(8, 'must be a Brave Search API key (X-Subscription-Token)').optional(),
  BRAVE_API_URL: z
    .string()
    .url('must be a URL, e.g. https://api.search.brave.com')
    .default('https://api.search.brave.com'),
  TAVILY_API_KEY: z.string().min(8, 'must be a Tavily API key (tvly-...)').optional(),
  TAVILY_API_URL: z.string().url('must be a URL, e.g. https://api.tavily.com').default('https://api.tavily.com'),
  // ── Files, documents, commands, code, capability ACL ──
  MAX_ARTIFACT_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .default(10 * 1024 * 1024),
  MAX_JOB_ARTIFACT_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(2_000_000_000)
    .default(32 * 1024 * 1024),
  COMMAND_ALLOWLIST: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return {} as Record<string, z.infer<typeof commandEntry>>;
      try {
        const parsed = z.record(z.string().regex(/^[\w.-]+$/), commandEntry).safeParse(JSON.parse(s));
        if (parsed.success) return parsed.data;
        const i = parsed.error.issues[0];
        ctx.addIssue({
          code: 'custom',
          message: `bad entry ${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'} (expected {"name":{"argv0":"/usr/bin/tool","args":["--fixed"],"allowArgs":"^[\\w.-]+$","timeoutMs":60000}})`,
        });
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'is not valid JSON (e.g. {"echo":{"argv0":"/bin/echo","allowArgs":true}})',
        });
      }
      return z.NEVER;
    }),
  COMMAND_WORK_DIR: z.string().optional(),
  COMMAND_KILL_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  COMMAND_OUTPUT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100_000_000)
    .default(64 * 1024),
  CODE_ALLOW_HOSTS: z.string().optional().transform(csv),
  CODE_ROOTS: z.string().optional().transform(csv),
  CODE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(100 * 1024 * 1024),
  CODE_WORK_DIR: z.string().optional(),
  ARTIFACT_LINK_SECRET: z.string().min(16, 'at least 16 characters (e.g. openssl rand -hex 32)').optional(),
  ARTIFACT_LINK_TTL_HOURS: z.coerce.number().min(0.01).max(8760).default(168),
  DOC_MAX_PAGES: z.coerce.number().int().min(1).max(100_000).default(500),
  CAPABILITY_ACL: z
    .string()
    .optional()
    .transform((s, ctx) => {
      if (!s) return undefined;
      const example = '(e.g. {"*":["!command.*","!code.*","*"],"telegram:42":["command.*"]})';
      try {
        const parsed = z.record(z.string(), z.array(z.string().min(1))).safeParse(JSON.parse(s));
        const badKey = parsed.success
          ? Object.keys(parsed.data).find((k) => !/^(\*|[a-z][a-z0-9_-]*:(\*|[^\s,*]+))$/.test(k))
          : undefined;
        if (parsed.success && badKey === undefined) return parsed.data;
        ctx.addIssue({
          code: 'custom',
          message: badKey
            ? `bad entry "${badKey}": user patterns are *, platform:* or platform:id ${example}`
            : `bad entry: each user pattern maps to a list of capability patterns ${example}`,
        });
      } catch {
        ctx.addIssue({ code: 'custom', message: `is not valid JSON ${example}` });
      }
      return z.NEVER;
    }),
  // ── Dashboard and WebSocket ──
  SESSION_TTL_HOURS: z.coerce
    .number({ error: 'must be a number of hours, e.g. 168 for a week' })
    .min(0.01, 'must be more than 0 hours, e.g. 168 for a week')
    .max(8760, 'must be at most 8760 (a year)')
    .default(168),
  WS_HEARTBEAT_MS: z.coerce
    .number({ error: 'must be milliseconds, e.g. 15000' })
    .int()
    .min(100, 'must be at least 100 ms, e.g. 15000')
    .max(600_000, 'must be at most 600000 ms')
    .default(15_000),
  WS_MAX_BUFFER_BYTES: z.coerce
    .number({ error: 'must be a number of bytes, e.g. 1048576' })
    .int()
    .min(1024, 'must be at least 1024 bytes, e.g. 1048576')
    .default(1_048_576),
  // ── Operations: metrics, tracing ──
  METRICS_TOKEN: z
    .string()
    .min(
      16,
      'at least 16 characters (Prometheus sends it as "Authorization: Bearer <token>"); unset it to leave /metrics open',
    )
    .optional(),
  METRICS_WINDOW_MINUTES: z.coerce
    .number()
    .int()
    .min(1, 'whole minutes, 1 to 1440 (the success-rate window), e.g. 15')
    .max(1440, 'whole minutes, 1 to 1440 (the success-rate window), e.g. 15')
    .default(15),
  WORKER_METRICS_PORT: z.coerce
    .number()
    .int()
    .min(1, "a TCP port 1-65535 for the worker's /metrics (or unset: off)")
    .max(65535, "a TCP port 1-65535 for the worker's /metrics (or unset: off)")
    .optional(),
  QUEUE_BOARD: z
    .enum(['off', 'readonly', 'write'], {
      error: 'off, readonly (default) or write (allows retries/removals on the board)',
    })
    .default('readonly'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url('the OTLP/HTTP endpoint of a collector, e.g. http://otel-collector:4318 (unset: tracing off)')
    .optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('switchboard'),
  SWITCHBOARD_URL: z.string().url().optional(),
  SWITCHBOARD_TOKEN: z.string().optional(),
});

/** Validated configuration. */
export type Config = z.infer<typeof schema>;

/** Parses the environment once; a wrong value throws a ConfigError naming the variable and the fix. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${String(i.path[0] ?? '?')}: ${i.message}`);
  throw new ConfigError(
    `Invalid configuration:\n${lines.join('\n')}\nFix the variable(s) above (see the configuration table in README.md).`,
  );
}

/** Retry and timeout policy for a capability: its own entry, else the defaults. */
export function policyFor(config: Config, capability: string): CapabilityPolicy {
  const own = config.CAPABILITY_POLICIES[capability] ?? {};
  return {
    attempts: own.attempts ?? config.DEFAULT_ATTEMPTS,
    backoffMs: own.backoffMs ?? config.DEFAULT_BACKOFF_MS,
    jitter: own.jitter ?? config.DEFAULT_JITTER,
    timeoutMs: own.timeoutMs ?? config.DEFAULT_TIMEOUT_MS,
  };
}
