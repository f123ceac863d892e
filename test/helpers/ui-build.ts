// Builds the dashboard (vite) before browser tests when dist/ui is missing or older than its sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { uiDistDir } from '../../src/frontends/web/dashboard.ts';

const uiSrc = path.resolve(import.meta.dirname, '../../src/frontends/web/ui');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Runs `vite build` for the dashboard unless dist/ui/index.html is newer than every source file. */
export async function ensureUiBuilt(): Promise<string> {
  const index = path.join(uiDistDir(), 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(uiSrc)) return uiDistDir();
  const { build } = await import('vite');
  // vitest sets NODE_ENV=test, which would make vite (and Preact's plugin) produce a development bundle.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: path.join(uiSrc, 'vite.config.ts'), logLevel: 'warn', mode: 'production' });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  return uiDistDir();
}
