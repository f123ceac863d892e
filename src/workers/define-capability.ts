// The worker SDK's way to declare a capability: a name, a one-line description, an input schema and a handler.
import { z } from 'zod';
import type { CapabilitySpec } from '../core/types.ts';
import type { HandlerContext } from './capability.ts';

/** A capability a worker can run. `name` is a dotted name (`web.fetch`), or a pattern (`test.*`) for a family. */
export interface Capability<S extends z.ZodType = z.ZodType> {
  name: string;
  /** One line saying what it does and when to use it; planners read it. */
  description: string;
  /** Validates (and may transform) the step's input before the handler runs. */
  input: S;
  handler: (ctx: HandlerContext<z.output<S>>) => Promise<unknown>;
}

/** Declares a capability; the handler's `input` is typed by the schema. */
export function defineCapability<S extends z.ZodType>(capability: Capability<S>): Capability<S> {
  if (!capability.description.trim() || capability.description.includes('\n')) {
    throw new Error(`Capability ${capability.name}: the description must be one non-empty line.`);
  }
  return capability;
}

/** What a worker advertises for an exact-named capability (none for pattern-named families). */
export function specOf(capability: Capability): CapabilitySpec | undefined {
  if (/[*{]/.test(capability.name)) return undefined;
  const inputSchema = z.toJSONSchema(capability.input, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  delete inputSchema.$schema;
  return { name: capability.name, description: capability.description, inputSchema };
}

/** Parses a step's input with the capability's schema; the error lists each problem by field. */
export function parseInput<S extends z.ZodType>(capability: Capability<S>, input: unknown): z.output<S> {
  const parsed = capability.input.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'input'}: ${i.message}`);
  throw new InvalidCapabilityInput(`Invalid input for ${capability.name}: ${problems.join('; ')}`);
}

/** A step's input does not match its capability's schema: retrying cannot help. */
export class InvalidCapabilityInput extends Error {
  override name = 'InvalidCapabilityInput';
}
