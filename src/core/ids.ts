// Identifier generation.
import { randomUUID } from 'node:crypto';

/** A new random id for tasks and subtasks. */
export function newId(): string {
  return randomUUID();
}

/** The first 8 characters of an id, as shown to people. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

const BIGINT_MAX = 9223372036854775807n;

/** Whether `s` is a decimal id that fits a Postgres bigint (event and dead-letter ids). */
export function isBigintId(s: string): boolean {
  return /^\d{1,19}$/.test(s) && BigInt(s) <= BIGINT_MAX;
}
