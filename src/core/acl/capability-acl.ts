// Who may use which capability: CAPABILITY_ACL, checked when a plan is accepted, before anything is queued.
import { matchesPattern } from '../capability-pattern.ts';
import type { Config } from '../config.ts';
import { ForbiddenError } from '../errors.ts';

/** The rules when CAPABILITY_ACL is unset: everything but commands and code analysis, which are for admins. */
export const DEFAULT_ACL: Record<string, string[]> = { '*': ['!command.*', '!code.*', '*'] };

/** How specific a user pattern is for `userId`: 2 exact, 1 `platform:*`, 0 `*`, -1 no match. */
function specificity(pattern: string, userId: string): number {
  if (pattern === userId) return 2;
  if (pattern === '*') return 0;
  if (pattern.endsWith(':*') && userId.startsWith(pattern.slice(0, -1))) return 1;
  return -1;
}

/**
 * Whether `userId` may run `capability`. Admins may run everything. Otherwise the entries whose user pattern
 * matches are read from the most specific (exact id, then `platform:*`, then `*`); within an entry the first
 * capability pattern that matches decides (`!pattern` denies). A capability no entry decides is refused.
 */
export function isAllowed(config: Config, userId: string, isAdmin: boolean, capability: string): boolean {
  if (isAdmin) return true;
  const acl = config.CAPABILITY_ACL ?? DEFAULT_ACL;
  const entries = Object.entries(acl)
    .map(([pattern, caps]) => ({ rank: specificity(pattern, userId), caps }))
    .filter((e) => e.rank >= 0)
    .sort((a, b) => b.rank - a.rank);
  for (const { caps } of entries) {
    for (const p of caps) {
      const deny = p.startsWith('!');
      if (matchesPattern(deny ? p.slice(1) : p, capability)) return !deny;
    }
  }
  return false;
}

/** Refuses (ForbiddenError naming the capability) when any of the capabilities is outside the user's allowance. */
export function assertCapabilitiesAllowed(
  config: Config,
  userId: string,
  isAdmin: boolean,
  capabilities: readonly string[],
): void {
  const refused = [...new Set(capabilities)].filter((c) => !isAllowed(config, userId, isAdmin, c));
  if (refused.length === 0) return;
  throw new ForbiddenError(
    `You are not allowed to use ${refused.join(', ')} (CAPABILITY_ACL); nothing was run. Ask an admin for access.`,
  );
}
