// Picks the planner from PLANNER (auto | llm | rules) and whether an LLM is configured.
import { isAllowed } from '../acl/capability-acl.ts';
import { ConfigError } from '../errors.ts';
import type { HubContext } from '../hub-context.ts';
import { LlmClient } from '../llm/llm-client.ts';
import { LLM_DISABLED_HINT, llmConfigured } from '../llm/llm-config.ts';
import type { Planner } from './plan.ts';
import type { RedisKeys } from '../redis-keys.ts';
import { RulePlanner } from './rule-planner.ts';
import type { CapabilitySpec } from '../types.ts';
import { listLiveWorkers, serves } from '../worker-registry.ts';
import { LlmPlanner } from './llm-planner.ts';
import type { Redis } from 'ioredis';

/** The capability specs live workers advertise now (a spec counts only if its worker serves it). */
export async function advertisedSpecs(redis: Redis, keys: RedisKeys): Promise<CapabilitySpec[]> {
  const workers = await listLiveWorkers(redis, keys);
  return workers.flatMap((w) => (w.specs ?? []).filter((s) => serves(w, s.name)));
}

/**
 * The hub's planner: the LLM planner when PLANNER=llm, or PLANNER=auto with OPENAI_API_KEY / OPENAI_BASE_URL set;
 * else the rule planner (saying once how to enable AI). PLANNER=llm without an LLM is a configuration error.
 */
export function createPlanner(ctx: HubContext): Planner {
  const { config, log } = ctx;
  const rules = new RulePlanner({ llmSteps: llmConfigured(config) });
  if (!llmConfigured(config)) {
    if (config.PLANNER === 'llm')
      throw new ConfigError(
        'PLANNER=llm needs an LLM endpoint: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (an OpenAI-compatible server), or use PLANNER=auto.',
      );
    log.info(LLM_DISABLED_HINT);
    return rules;
  }
  if (config.PLANNER === 'rules') return rules;
  const model = new LlmClient(config, ctx.redis, config.QUEUE_PREFIX, log.child({ component: 'planner' }));
  log.info({ model: config.LLM_PLANNER_MODEL ?? config.LLM_MODEL }, 'LLM planner enabled');
  return new LlmPlanner({
    model,
    // Only what the user may use (CAPABILITY_ACL): the model never sees, so never plans, a refused capability.
    specs: async ({ userId }) =>
      (await advertisedSpecs(ctx.redis, ctx.keys)).filter((s) =>
        isAllowed(config, userId, ctx.isAdmin(userId), s.name),
      ),
    fallback: rules,
    log,
    plannerModel: config.LLM_PLANNER_MODEL,
  });
}
