// The llm.* capability family; empty (not advertised) when no LLM endpoint is configured.
import type { Config } from '../../../core/config.ts';
import { llmConfigured } from '../../../core/llm/llm-config.ts';
import type { Capability } from '../../define-capability.ts';
import { analyzeCapability } from './analyze.ts';
import { answerCapability } from './answer.ts';
import { compareCapability } from './compare.ts';
import { extractCapability } from './extract.ts';
import { LlmFamily } from './llm-step.ts';
import { summarizeCapability } from './summarize.ts';
import { writeCapability } from './write.ts';

/** llm.summarize, llm.extract, llm.answer, llm.analyze, llm.compare and llm.write, when an LLM is configured. */
export function llmCapabilities(config: Config): Capability[] {
  if (!llmConfigured(config)) return [];
  const family = new LlmFamily(config);
  return [
    summarizeCapability(family),
    extractCapability(family),
    answerCapability(family),
    analyzeCapability(family),
    compareCapability(family),
    writeCapability(family),
  ] as Capability[];
}
