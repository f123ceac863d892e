// The package's own version, read from its package.json both from src/ (tsx) and from dist/src/ (compiled).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file with the switchboard package.json. */
export const PACKAGE_ROOT: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).name === 'switchboard') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('switchboard: package.json not found above the running code');
    dir = up;
  }
})();

/** The version in package.json. */
export const VERSION: string = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
