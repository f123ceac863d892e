// Every llm.* prompt template and answer schema, in one place to read and change.
// Data blocks (outside text) are added by the runtime after the instructions; they are never instructions.
import { z } from 'zod';
import { UNTRUSTED_RULE } from '../../../core/llm/untrusted.ts';

const BASE =
  'You are a careful assistant working one step of a larger task for a user. Be accurate, specific and concise; ' +
  'never invent facts that are not in the data or common knowledge, and say so when the data is insufficient. ' +
  `Where the data marks pages as [p. N], cite the page as (p. N) for each fact you take from it. ${UNTRUSTED_RULE}`;

/** One capability's prompt: its system prompt and the task line written above the data. */
export interface PromptTemplate {
  system: string;
  /** Output tokens allowed for the answer. */
  maxTokens: number;
}

/** llm.summarize */
export const SUMMARIZE: PromptTemplate & { length: Record<'short' | 'medium' | 'long', string> } = {
  system: `${BASE} You write summaries: a title, the summary in Markdown, and the key points as short sentences.`,
  maxTokens: 4000,
  length: {
    short: 'Keep the summary to 2-3 sentences and at most 3 key points.',
    medium: 'Keep the summary to one or two paragraphs and 3-7 key points.',
    long: 'Write a thorough summary (several paragraphs, headings if useful) and up to 12 key points.',
  },
};

/** Answer schema of llm.summarize. */
export const SummarySchema = z.object({
  title: z.string(),
  summary: z.string().describe('the summary, in Markdown'),
  keyPoints: z.array(z.string()),
});

/** llm.extract */
export const EXTRACT: PromptTemplate = {
  system:
    `${BASE} You extract entities from the data: people, organisations, locations, dates, amounts (money, ` +
    'quantities, percentages) and other notable entities. Each with its value as written (normalised where obvious) ' +
    'and a few words of context. List each entity once. Empty lists when there are none.',
  maxTokens: 4000,
};

const entity = z.object({ value: z.string(), context: z.string() });
/** Answer schema of llm.extract. */
export const EntitiesSchema = z.object({
  people: z.array(entity),
  orgs: z.array(entity),
  locations: z.array(entity),
  dates: z.array(entity),
  amounts: z.array(entity),
  other: z.array(z.object({ type: z.string(), value: z.string(), context: z.string() })),
});

/** llm.answer */
export const ANSWER: PromptTemplate = {
  system:
    `${BASE} You answer the user's question from the data given (and general knowledge only where the data is ` +
    'silent, saying so). Support the answer with short verbatim quotes from the data. If it cannot be answered, ' +
    'set unanswerable and say what is missing.',
  maxTokens: 3000,
};

/** Answer schema of llm.answer. */
export const AnswerSchema = z.object({
  answer: z.string().describe('the answer, in Markdown'),
  confidence: z.enum(['high', 'medium', 'low']),
  quotes: z.array(z.string()),
  unanswerable: z.boolean(),
});

/** llm.analyze */
export const ANALYZE: PromptTemplate = {
  system:
    `${BASE} You analyse the data for the stated goal: an overview, findings (each with a title, the detail and a ` +
    'severity), and concrete, prioritised recommendations.',
  maxTokens: 5000,
};

/** Answer schema of llm.analyze. */
export const AnalysisSchema = z.object({
  title: z.string(),
  overview: z.string(),
  findings: z.array(
    z.object({ title: z.string(), detail: z.string(), severity: z.enum(['high', 'medium', 'low', 'info']) }),
  ),
  recommendations: z.array(z.string()),
});

/** llm.compare */
export const COMPARE: PromptTemplate = {
  system:
    `${BASE} You compare the options given as data, criterion by criterion (use the criteria asked for, else ` +
    'choose the ones that matter most), list pros and cons, and recommend one option with your reasoning and ' +
    'the caveats. Use the option names exactly as labelled.',
  maxTokens: 5000,
};

/** Answer schema of llm.compare. */
export const ComparisonSchema = z.object({
  criteria: z.array(z.string()),
  options: z.array(
    z.object({
      name: z.string(),
      assessments: z.array(z.object({ criterion: z.string(), assessment: z.string() })),
      pros: z.array(z.string()),
      cons: z.array(z.string()),
    }),
  ),
  recommendation: z.object({ choice: z.string(), reasoning: z.string() }),
});

/** llm.write */
export const WRITE: PromptTemplate & { kinds: Record<string, string> } = {
  system:
    `${BASE} You write finished deliverables in Markdown from the material given: well structured, ready to use, ` +
    'no preamble or closing remarks about the writing itself.',
  maxTokens: 8000,
  kinds: {
    'talking points': 'Write talking points: a title, then 5-10 crisp bullet points, each a claim with its key fact.',
    report: 'Write a report: a title, an executive summary, sections with headings, and a conclusion.',
    email: 'Write an email: a subject line ("Subject: ..."), a greeting, a clear body and a sign-off.',
    memo: 'Write a memo: To/From/Subject lines, the purpose, the key points and the requested action.',
    'blog post': 'Write a blog post: an engaging title, an introduction, sections with headings and a conclusion.',
  },
};

/** The task line above the data: the step's instructions, or `fallback`. */
export function taskLine(instructions: string | undefined, fallback: string): string {
  return instructions?.trim() ? `Task: ${instructions.trim()}` : `Task: ${fallback}`;
}
