// Validates a step's input against its capability's advertised JSON schema (ajv, compiled once per schema).
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { CapabilitySpec } from '../types.ts';

/** Checks step inputs against capability specs. */
export class InputValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    (addFormats as unknown as (ajv: Ajv2020) => void)(this.ajv);
  }

  /** Readable problems of `input` against the spec's schema; empty when it is valid. */
  check(spec: CapabilitySpec, input: unknown): string[] {
    const key = JSON.stringify(spec.inputSchema);
    let validate = this.compiled.get(key);
    if (!validate) {
      try {
        validate = this.ajv.compile(spec.inputSchema);
      } catch (err) {
        return [`the advertised schema of ${spec.name} cannot be compiled (${(err as Error).message})`];
      }
      if (this.compiled.size > 500) this.compiled.clear();
      this.compiled.set(key, validate);
    }
    if (validate(input)) return [];
    return (validate.errors ?? []).map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'input';
      const extra =
        e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
      return `${where} ${e.message ?? 'is invalid'}${extra}`;
    });
  }
}
