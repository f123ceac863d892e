// Model prices in USD per 1M tokens: built-in defaults for common models, overridden by LLM_PRICES.

/** USD per 1M tokens. `cachedInput` defaults to `input` when a provider has no cache discount. */
export interface ModelPrice {
  input: number;
  cachedInput?: number | undefined;
  output: number;
}

/** Built-in list prices (USD per 1M tokens) of common models; LLM_PRICES overrides or extends them. */
export const DEFAULT_PRICES: Record<string, ModelPrice> = {
  'gpt-5': { input: 1.25, cachedInput: 0.125, output: 10 },
  'gpt-5-mini': { input: 0.25, cachedInput: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cachedInput: 0.005, output: 0.4 },
  'gpt-4.1': { input: 2, cachedInput: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cachedInput: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cachedInput: 0.025, output: 0.4 },
  'gpt-4o': { input: 2.5, cachedInput: 1.25, output: 10 },
  'gpt-4o-mini': { input: 0.15, cachedInput: 0.075, output: 0.6 },
  o3: { input: 2, cachedInput: 0.5, output: 8 },
  'o4-mini': { input: 1.1, cachedInput: 0.275, output: 4.4 },
};

/** The price of a model: an override first, then the built-in list (also for dated ids like gpt-4o-2024-08-06). */
export function priceOf(model: string, overrides: Record<string, ModelPrice> = {}): ModelPrice | undefined {
  const exact = overrides[model] ?? DEFAULT_PRICES[model];
  if (exact) return exact;
  const base = model.replace(/-\d{4}-\d{2}-\d{2}$/, '');
  return overrides[base] ?? DEFAULT_PRICES[base];
}

/** Cost of a call in USD; an unknown model costs 0 and is marked unpriced. */
export function costOf(
  model: string,
  tokens: { promptTokens: number; completionTokens: number; cachedTokens?: number },
  overrides?: Record<string, ModelPrice>,
): { costUsd: number; priced: boolean } {
  const p = priceOf(model, overrides);
  if (!p) return { costUsd: 0, priced: false };
  const cached = Math.min(tokens.cachedTokens ?? 0, tokens.promptTokens);
  const usd =
    ((tokens.promptTokens - cached) * p.input +
      cached * (p.cachedInput ?? p.input) +
      tokens.completionTokens * p.output) /
    1_000_000;
  return { costUsd: usd, priced: true };
}
