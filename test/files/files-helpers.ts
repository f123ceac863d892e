// Shared pieces of the files tests: fixtures, stand-ins for the llm.* steps (built on another branch), HTTP calls.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { outputFile } from '../../src/core/artifacts/artifact-transport.ts';
import type { CapabilityHandler } from '../../src/workers/capability.ts';

/** Bytes of a fixture under test/fixtures/files. */
export const fixture = (name: string): Buffer => readFileSync(join(import.meta.dirname, '../fixtures/files', name));

interface Doc {
  name: string;
  pages: Array<{ n: number; text: string }>;
}

/**
 * Stand-in for llm.compare (the real one is the AI branch's): reads the doc.extract outputs it depends on, picks the
 * lowest premium and cites the page each figure is on; returns the comparison as a Markdown file too.
 */
export const compareStandIn: CapabilityHandler = async (ctx) => {
  const docs = Object.values(ctx.deps).flatMap((d) => (d as { documents: Doc[] }).documents);
  const rows = docs.map((d) => {
    const page = d.pages.find((p) => /premium/i.test(p.text))!;
    const premium = Number(/premium:\s*(\d+)/i.exec(page.text)![1]);
    return { name: d.name, title: d.pages[0]!.text.split(' - ')[0]!, premium, page: page.n };
  });
  const best = [...rows].sort((a, b) => a.premium - b.premium)[0]!;
  const table = rows.map((r) => `- ${r.title}: ${r.premium} EUR (${r.name}, p. ${r.page})`).join('\n');
  const text = `Recommendation: ${best.title}, the lowest premium at ${best.premium} EUR (${best.name}, p. ${best.page}).\n${table}`;
  return { text, files: [outputFile('comparison.md', 'text/markdown', `# Comparison\n\n${table}\n`)] };
};

/** Stand-in for llm.analyze: turns code.analyze's findings into a review and a unified diff as an artifact. */
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
