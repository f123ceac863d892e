// Which chat frontends run: each one whose credentials are configured.
import type { Config } from '../core/config.ts';
import type { FrontendFactory } from './frontend.ts';

/** Factories of the chat frontends enabled by the configuration. */
export function chatFrontendFactories(_config: Config): FrontendFactory[] {
  const factories: FrontendFactory[] = [];
  return factories;
}
