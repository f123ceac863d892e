// The structured-output schema of a plan, generated from the advertised capability specs: each step's input is
// typed by its capability (an anyOf over the capabilities, strict-mode compatible). The zod schema parses
// leniently (only the plan's shape); inputs and capabilities are checked afterwards against the real specs, so
// an error names the step and the field, and fields a model adds are dropped rather than fatal.
import { z } from 'zod';
import type { CapabilitySpec } from '../types.ts';
import { toStrictSchema } from './strict-schema.ts';

/** A step as the model returns it, before validation. */
export interface RawPlanStep {
  key: string;
  capability: string;
  title: string;
  input: unknown;
  dependsOn: string[];
  review: boolean | null;
}

/** A plan (or a question) as the model returns it, before validation. */
export interface RawPlan {
  kind: 'plan' | 'question';
  question: string | null;
  summary: string;
  answer: string | null;
  steps: RawPlanStep[];
}

/** Name of the response format (json_schema mode) and of the schema in the prompt. */
export const PLAN_SCHEMA_NAME = 'switchboard_plan';

function stepSchema(spec: CapabilitySpec) {
  return z.object({
    key: z.string().describe('short id: letters, digits, _ or -'),
    // The JSON schema pins the name; parsing accepts any string so an unknown one gets a precise error later.
    capability: z.string().meta({ const: spec.name, description: spec.description }),
    title: z.string(),
    input: z.unknown().meta(toStrictSchema(spec.inputSchema)),
    dependsOn: z.array(z.string()),
    review: z.boolean().nullable(),
  });
}

let cached: { signature: string; schema: z.ZodType<RawPlan> } | undefined;

/** The plan schema for these capabilities (rebuilt only when the advertised specs change). */
export function planSchema(specs: CapabilitySpec[]): z.ZodType<RawPlan> {
  const signature = JSON.stringify(specs);
  if (cached?.signature === signature) return cached.schema;
  const variants = specs.map(stepSchema);
  const step = variants.length === 1 ? variants[0]! : z.union(variants as [(typeof variants)[0], ...typeof variants]);
  const schema = z.object({
    kind: z.enum(['plan', 'question']),
    question: z.string().nullable(),
    summary: z.string(),
    answer: z.string().nullable(),
    steps: z.array(step),
  }) as unknown as z.ZodType<RawPlan>;
  cached = { signature, schema };
  return schema;
}
