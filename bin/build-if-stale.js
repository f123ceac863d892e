#!/usr/bin/env node
// `npm start` / `npm run hub` / `npm run worker` run this first: rebuilds dist/ when a source file is newer than
// the last build (or dist/ is missing), so a clone always runs what its sources say. Quiet when up to date.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

// An installed package ships dist/ without sources: nothing to do.
if (existsSync(path.join(root, 'src'))) {
  const sources = Math.max(
    newest(path.join(root, 'src')),
    newest(path.join(root, 'migrations')),
    statSync(path.join(root, 'tsconfig.build.json')).mtimeMs,
  );
  if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
    process.stderr.write('switchboard: sources changed since the last build; compiling (npm run build)...\n');
    execFileSync(process.execPath, [path.join(root, 'bin', 'build.js')], { stdio: 'inherit' });
  }
}
