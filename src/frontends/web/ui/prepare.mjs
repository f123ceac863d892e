// `npm install` step: builds the dashboard with vite, unless this is an install without dev dependencies
// (`npm ci --omit=dev`) or without the sources yet (a Docker layer), where it says so and leaves it out.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let vite;
try {
  vite = await import('vite');
} catch {
  console.log(
    'dashboard: vite is not installed (production install), so the UI is not built; run `npm run build:ui` where dev dependencies are.',
  );
  process.exit(0);
}
if (!existsSync(path.join(here, 'index.html'))) process.exit(0);
await vite.build({ configFile: path.join(here, 'vite.config.ts'), logLevel: 'warn' });
