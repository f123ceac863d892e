// Every built-in capability family, each a folder of `defineCapability` files. A family that is not configured
// (no LLM endpoint, no search provider, an empty command allow-list) contributes nothing, so it is not advertised.
import type { Config } from '../../core/config.ts';
import { byName, type CapabilityHandlers } from '../capability.ts';
import { llmCapabilities } from './llm/index.ts';
import type { Capability } from '../define-capability.ts';
import { demoCapabilities } from './demo/demo-capabilities.ts';
import { webCapabilities } from './web/web-capabilities.ts';
import { codeCapabilities } from './code/code-capabilities.ts';
import { commandCapabilities } from './command/command-capabilities.ts';
import { docCapabilities } from './doc/doc-capabilities.ts';

/** Built-in capabilities by name, as this configuration enables them. */
export function builtinCapabilities(config: Config): CapabilityHandlers {
  const families: Capability[][] = [
    demoCapabilities,
    llmCapabilities(config),
    webCapabilities(config),
    docCapabilities(config),
    commandCapabilities(config),
    codeCapabilities(config),
  ];
  return byName(families.flat());
}
