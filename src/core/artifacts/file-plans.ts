// Rule-based plans for requests about files and code: extract each attached document (then compare), analyse a repo.
import type { Plan, PlanRequest, PlanStep } from '../planning/plan.ts';

/** What the file rules may add beyond worker-side capabilities. */
export interface FilePlanOptions {
  /** An LLM is configured: add llm.* steps (comparison is always planned on llm.compare). */
  llmSteps?: boolean | undefined;
}

/** Longest instructions the llm.* steps take (their input schemas cap `instructions` at 4000 characters). */
const MAX_INSTRUCTIONS = 4000;

/** The user's request as an llm.* step's instructions (never as data), with a line of what the step must add. */
const instructionsFor = (text: string, add: string): string =>
  `${text.slice(0, MAX_INSTRUCTIONS - add.length - 1)}\n${add}`;

const step = (key: string, capability: string, input: unknown, dependsOn: string[] = []): PlanStep => ({
  key,
  capability,
  input,
  dependsOn,
});

/**
 * A plan for a request with attachments (doc.extract per file, then llm.compare when asked to compare several) or
 * for analysing a code base named by URL or path (code.analyze, then llm.analyze with an LLM); else null.
 */
export function planFileRequest(req: PlanRequest, opts: FilePlanOptions = {}): Plan | null {
  const text = req.text.trim();
  // Files doc.extract can read (PDF, DOCX, HTML, Markdown, text); pictures and other files are left to other steps.
  const files = (req.attachments ?? []).filter(
    (f) =>
      /pdf|wordprocessingml|html|markdown|^text\//i.test(f.mediaType) ||
      /\.(pdf|docx|html?|md|markdown|txt|csv|log|json|ya?ml)$/i.test(f.name),
  );
  if (files.length > 0) {
    const extracts = files.slice(0, 50).map((f, i) => step(`extract${i + 1}`, 'doc.extract', { artifact: f.name }));
    const keys = extracts.map((s) => s.key);
    if (files.length >= 2 && /\b(compare|comparison|versus|vs\.?|which is better)\b/i.test(text)) {
      return {
        summary: `extract ${files.length} documents, then compare them (doc.extract, llm.compare)`,
        steps: [
          ...extracts,
          step(
            'compare',
            'llm.compare',
            {
              instructions: instructionsFor(
                text,
                'Name each document by its file name and cite the page (p. N) of each figure.',
              ),
            },
            keys,
          ),
        ],
      };
    }
    if (opts.llmSteps && /\b(summar|explain|review|analy[sz]e)/i.test(text)) {
      return {
        summary: `extract ${files.length} document(s), then answer (doc.extract, llm.analyze)`,
        steps: [
          ...extracts,
          step(
            'answer',
            'llm.analyze',
            { instructions: instructionsFor(text, 'Cite the page (p. N) of what you use.') },
            keys,
          ),
        ],
      };
    }
    return { summary: `extract ${files.length} document(s) (doc.extract)`, steps: extracts };
  }
  const code =
    /\b(analy[sz]e|review|audit|improve|inspect)\b[\s\S]*\b(code|codebase|code base|repo|repository|project)\b/i.test(
      text,
    );
  const source = /(https:\/\/\S+|file:\/\/\/\S+|(?:^|\s)(\/[^\s]+))/.exec(text);
  if (code && source) {
    const src = (source[2] ?? source[1]!).trim().replace(/[).,;]+$/, '');
    const analyze = step('code', 'code.analyze', { source: src, topic: text });
    if (!opts.llmSteps) return { summary: 'analyse the code base (code.analyze)', steps: [analyze] };
    return {
      summary: 'analyse the code base, then review it with a suggested patch (code.analyze, llm.analyze)',
      steps: [
        analyze,
        step(
          'review',
          'llm.analyze',
          {
            instructions: instructionsFor(
              text,
              'Review the code found with concrete improvements, citing file:line, and a suggested patch as a unified diff.',
            ),
          },
          ['code'],
        ),
      ],
    };
  }
  return null;
}
