#!/usr/bin/env node
// `npm run build`: compiles src/ and migrations/ into dist/ with tsc (tsconfig.build.json), builds the dashboard
// into dist/ui, and stamps the time.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // `prepare` after `npm ci --omit=dev` in a clone: nothing to build with, and nothing to fail the install for.
  if (process.argv.includes('--if-possible')) {
    process.stderr.write(
      'switchboard: dev dependencies not installed; not compiling (run `npm run build` after `npm ci`).\n',
    );
    process.exit(0);
  }
  process.stderr.write('switchboard: building needs the dev dependencies: run `npm ci` (without --omit=dev) first.\n');
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
// The dashboard (vite, into dist/ui); skipped with a word when vite is not installed.
execFileSync(process.execPath, [path.join(root, 'src', 'frontends', 'web', 'ui', 'prepare.mjs')], { stdio: 'inherit' });
writeFileSync(path.join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
