// Every built-in capability. Add a capability by writing a handler file and listing it here.
import type { CapabilityHandlers } from '../capability.ts';
import { demoCapabilities } from './demo.ts';

/** Built-in handlers by capability name. */
export const builtinCapabilities: CapabilityHandlers = {
  ...demoCapabilities,
};
