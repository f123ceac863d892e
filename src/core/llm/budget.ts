// Budgets per task and per user-day, reserved atomically in Redis before a call and settled after it.
import type { Redis } from 'ioredis';
import { BudgetExceededError } from './llm-errors.ts';

/** Money is counted in nano-USD so Redis can add integers. */
const NANO = 1_000_000_000;
const TASK_TTL_S = 30 * 24 * 3600;
const DAY_TTL_S = 2 * 24 * 3600;

// KEYS: task hash, user-day hash. ARGV: tokens, nanos, task token limit, task nano limit, user nano limit,
// check user (1/0), task ttl, day ttl. Limits of 0 mean none. Checks and increments in one step, so concurrent
// reservations from any number of workers can never together pass a limit.
const RESERVE = `
local tokens = tonumber(ARGV[1])
local nanos = tonumber(ARGV[2])
local tt = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
local tn = tonumber(redis.call('HGET', KEYS[1], 'nanos') or '0')
local lt, ln, lu = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if lt > 0 and tt + tokens > lt then return {'TASK_TOKEN_BUDGET', tostring(tt), tostring(lt)} end
if ln > 0 and tn + nanos > ln then return {'TASK_BUDGET_USD', tostring(tn), tostring(ln)} end
if ARGV[6] == '1' and lu > 0 then
  local un = tonumber(redis.call('HGET', KEYS[2], 'nanos') or '0')
  if un + nanos > lu then return {'USER_DAILY_BUDGET_USD', tostring(un), tostring(lu)} end
end
redis.call('HINCRBY', KEYS[1], 'tokens', tokens)
redis.call('HINCRBY', KEYS[1], 'nanos', nanos)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
redis.call('HINCRBY', KEYS[2], 'tokens', tokens)
redis.call('HINCRBY', KEYS[2], 'nanos', nanos)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
return {'ok'}
`;

/** Limits in force (0 = none). */
export interface BudgetLimits {
  taskTokens: number;
  taskUsd: number;
  userDailyUsd: number;
}

/** Who pays for a call. Admins are exempt from the per-user daily budget, not from task budgets. */
export interface BudgetOwner {
  taskId: string;
  userId: string;
  admin: boolean;
}

/** A reservation to settle once the call's real usage is known. */
export interface Reservation {
  taskKey: string;
  userKey: string;
  tokens: number;
  nanos: number;
}

/** Tokens and USD spent (or reserved) so far. */
export interface BudgetSpent {
  tokens: number;
  usd: number;
}

type RedisWithReserve = Redis & {
  llmReserve(k1: string, k2: string, ...args: (string | number)[]): Promise<string[]>;
};

const usd = (nanos: number) => `$${(nanos / NANO).toFixed(nanos < NANO / 100 ? 4 : 2)}`;

/** Atomic budget reservations shared by every hub and worker on one Redis prefix. */
export class BudgetLedger {
  private readonly redis: RedisWithReserve;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly limits: BudgetLimits,
  ) {
    this.redis = redis as RedisWithReserve;
    if (typeof this.redis.llmReserve !== 'function') {
      redis.defineCommand('llmReserve', { numberOfKeys: 2, lua: RESERVE });
    }
  }

  /** Redis key of a task's spending. */
  taskKey(taskId: string): string {
    return `${this.prefix}:llm:budget:task:${taskId}`;
  }

  /** Redis key of a user's spending on a UTC day. */
  userKey(userId: string, at = new Date()): string {
    return `${this.prefix}:llm:budget:user:${userId}:${at.toISOString().slice(0, 10)}`;
  }

  /** Reserves an estimate, or throws BudgetExceededError naming the budget and how to raise it. */
  async reserve(owner: BudgetOwner, tokens: number, costUsd: number): Promise<Reservation> {
    const r: Reservation = {
      taskKey: this.taskKey(owner.taskId),
      userKey: this.userKey(owner.userId),
      tokens: Math.ceil(tokens),
      nanos: Math.ceil(costUsd * NANO),
    };
    const l = this.limits;
    const res = await this.redis.llmReserve(
      r.taskKey,
      r.userKey,
      r.tokens,
      r.nanos,
      l.taskTokens,
      Math.round(l.taskUsd * NANO),
      Math.round(l.userDailyUsd * NANO),
      owner.admin ? '0' : '1',
      TASK_TTL_S,
      DAY_TTL_S,
    );
    if (res[0] === 'ok') return r;
    throw refusal(res[0]!, Number(res[1]), Number(res[2]), r);
  }

  /** Replaces a reservation by the real usage (a failed call that cost nothing settles with zeros). */
  async settle(r: Reservation, tokens: number, costUsd: number): Promise<void> {
    const dt = Math.ceil(tokens) - r.tokens;
    const dn = Math.ceil(costUsd * NANO) - r.nanos;
    if (dt === 0 && dn === 0) return;
    await this.redis
      .multi()
      .hincrby(r.taskKey, 'tokens', dt)
      .hincrby(r.taskKey, 'nanos', dn)
      .hincrby(r.userKey, 'tokens', dt)
      .hincrby(r.userKey, 'nanos', dn)
      .exec();
  }

  /** What a task has spent (settled) or reserved (in flight). */
  async taskSpent(taskId: string): Promise<BudgetSpent> {
    return this.read(this.taskKey(taskId));
  }

  /** What a user has spent today (UTC). */
  async userSpentToday(userId: string): Promise<BudgetSpent> {
    return this.read(this.userKey(userId));
  }

  private async read(key: string): Promise<BudgetSpent> {
    const h = await this.redis.hgetall(key);
    return { tokens: Number(h.tokens ?? 0), usd: Number(h.nanos ?? 0) / NANO };
  }
}

function refusal(budget: string, used: number, limit: number, r: Reservation): BudgetExceededError {
  const fix = `Raise ${budget} (0 = no limit) or ask for less.`;
  if (budget === 'TASK_TOKEN_BUDGET') {
    return new BudgetExceededError(
      `Token budget of this task exceeded: the call needs about ${r.tokens} tokens, but only ${Math.max(0, limit - used)} ` +
        `of TASK_TOKEN_BUDGET=${limit} are left. ${fix}`,
      budget,
    );
  }
  if (budget === 'TASK_BUDGET_USD') {
    return new BudgetExceededError(
      `Cost budget of this task exceeded: the call would cost about ${usd(r.nanos)}, but only ${usd(Math.max(0, limit - used))} ` +
        `of TASK_BUDGET_USD=${usd(limit)} is left. ${fix}`,
      budget,
    );
  }
  return new BudgetExceededError(
    `Your daily LLM budget is used up: the call would cost about ${usd(r.nanos)}, but only ${usd(Math.max(0, limit - used))} ` +
      `of USER_DAILY_BUDGET_USD=${usd(limit)} is left today (resets at 00:00 UTC). An admin can raise USER_DAILY_BUDGET_USD.`,
    budget,
  );
}
