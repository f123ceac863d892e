#!/usr/bin/env node
// Entry point of the `switchboard` command: runs the compiled JavaScript in dist/ (built by `npm run build`,
// which `npm ci` / `npm install` run through `prepare`, and `npm start` when the sources are newer).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'switchboard: the compiled code (dist/) is missing. In a clone of the repository run `npm run build` (or `npm ci`, which builds).\n',
  );
  process.exit(1);
}
await import(entry.href);
