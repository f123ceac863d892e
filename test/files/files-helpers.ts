// Shared pieces of the files tests: fixtures, the fake model's policy comparison, a stand-in for llm.analyze, HTTP calls.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { outputFile } from '../../src/core/artifacts/artifact-transport.ts';
import type { CapabilityHandler } from '../../src/workers/capability.ts';

/** Bytes of a fixture under test/fixtures/files. */
export const fixture = (name: string): Buffer => readFileSync(join(import.meta.dirname, '../fixtures/files', name));

/** The three policy fixtures: file, title, annual premium, deductible, flood cover (see make-fixtures.py). */
export const POLICIES = [
  ['policy-a.pdf', 'Acme Home Shield', '480', '1000', 'flood excluded'],
  ['policy-b.pdf', 'Beta Secure Plus', '620', '500', 'flood included up to 50000'],
  ['policy-c.pdf', 'Civic Basic Cover', '390', '2500', 'flood excluded'],
] as const;

/** What the fake model answers to llm.compare over the three policies: figures and the choice cite pages. */
export const POLICY_COMPARISON = {
  criteria: ['Annual premium', 'Deductible', 'Flood'],
  options: POLICIES.map(([name, , premium, deductible, flood]) => ({
    name,
    assessments: [
      { criterion: 'Annual premium', assessment: `${premium} EUR (p. 2)` },
      { criterion: 'Deductible', assessment: `${deductible} EUR per claim (p. 2)` },
      { criterion: 'Flood', assessment: `${flood} (p. 3)` },
    ],
    pros: [],
    cons: [],
  })),
  recommendation: {
    choice: 'policy-c.pdf (Civic Basic Cover)',
    reasoning:
      'Lowest annual premium at 390 EUR (policy-c.pdf, p. 2); mind the 2500 EUR deductible (p. 2) and that flood is ' +
      'excluded (policy-c.pdf, p. 3).',
  },
};

/**
 * Stand-in for llm.analyze in the code.analyze test (which is about cloning, inventory and the patch artifact path):
 * turns code.analyze's findings into a review and a unified diff as an artifact. The real llm.analyze returns no file.
 */
export const analyzeStandIn: CapabilityHandler = async (ctx) => {
  const found = ctx.deps.code as {
    matches: Array<{ file: string; line: number }>;
    excerpts: Array<{ file: string; text: string }>;
  };
  const ex = found.excerpts[0]!;
  const improved = ex.text.replace(/console\.log\(/g, 'logger.info(');
  const patch = createTwoFilesPatch(`a/${ex.file}`, `b/${ex.file}`, ex.text, improved);
  return {
    text: `Replace console.log with a structured logger at ${found.matches.map((m) => `${m.file}:${m.line}`).join(', ')}.`,
    files: [outputFile('suggested.patch', 'text/x-diff', patch)],
  };
};

/** A JSON or text response of the HTTP API. */
export interface Res {
  status: number;
  body: any;
  headers: Headers;
  bytes: Buffer;
}

/** Calls the API with a bearer token; `form` sends multipart/form-data. */
export async function call(
  base: string,
  method: string,
  path: string,
  token: string,
  opts: { json?: unknown; form?: FormData } = {},
): Promise<Res> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let body: string | FormData | undefined;
  if (opts.form) body = opts.form;
  else if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const bytes = Buffer.from(await res.arrayBuffer());
  let parsed: unknown = bytes.toString('utf8');
  try {
    parsed = JSON.parse(parsed as string);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers, bytes };
}

/** A form with a text field and files. */
export function formWith(text: string, files: Array<{ name: string; type: string; bytes: Uint8Array }>): FormData {
  const form = new FormData();
  form.append('text', text);
  for (const f of files) form.append('file', new Blob([new Uint8Array(f.bytes)], { type: f.type }), f.name);
  return form;
}
