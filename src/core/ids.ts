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
