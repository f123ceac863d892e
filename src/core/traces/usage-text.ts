// Usage as people read it: "3 steps, 12.4k tokens, $0.018".

/** Token count with a k/M suffix: 950, 12.4k, 1.2M. */
export function formatTokens(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1_000_000) return `${Math.round(n / 100) / 10}k`;
  return `${Math.round(n / 100_000) / 10}M`;
}

/** Dollars: $1.25, $0.018, $0.0013, and <$0.0001 for tiny amounts. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd < 0.0001) return '<$0.0001';
  return `$${usd.toFixed(usd < 0.01 ? 4 : usd < 1 ? 3 : 2)}`;
}

/** "3 steps, 12.4k tokens, $0.018" (cost marked as a lower bound when a model had no known price). */
export function usageLine(u: { steps?: number; tokens: number; costUsd: number; unpriced?: boolean }): string {
  const parts: string[] = [];
  if (u.steps !== undefined) parts.push(`${u.steps} step${u.steps === 1 ? '' : 's'}`);
  parts.push(`${formatTokens(u.tokens)} tokens`);
  parts.push(`${u.unpriced ? '≥' : ''}${formatUsd(u.costUsd)}${u.unpriced ? ' (some models unpriced)' : ''}`);
  return parts.join(', ');
}
