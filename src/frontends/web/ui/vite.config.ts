// Builds the dashboard (Preact) into dist/ui, which the hub serves at `/` (npm run build:ui; npm install runs it).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact()],
  build: {
    outDir: path.resolve(here, '../../../../dist/ui'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
