// A bench script as one plain JavaScript file, for a process whose memory is measured: run through tsx, the process
// would also hold tsx's loader (about 30 MB of RSS) and a second, source copy of every hub module the script imports.
// The bundle's imports of src/ point at the compiled hub in dist/ (what `switchboard hub` runs), so the script and the
// hub share one copy of each module; packages stay imports of node_modules.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const bench = fileURLToPath(new URL('../', import.meta.url));
const root = path.resolve(bench, '..');
const src = path.join(root, 'src') + path.sep;

/** Resolves imports of src/**.ts to the compiled dist/src/**.js, left as imports. */
const compiledHub: Plugin = {
  name: 'compiled-hub',
  setup(b) {
    b.onResolve({ filter: /\.ts$/ }, (args) => {
      const file = path.resolve(args.resolveDir, args.path);
      if (!file.startsWith(src)) return undefined;
      return { path: path.join(root, 'dist', path.relative(root, file)).replace(/\.ts$/, '.js'), external: true };
    });
  },
};

/**
 * Bundles `relative` (a script of bench/) into bench/lib/.<name>.mjs and returns that path, relative to bench/. The
 * bundle sits beside bench/lib's modules, so their paths relative to their own file still hold.
 */
export async function bundleScript(relative: string): Promise<string> {
  const out = path.join('lib', `.${path.basename(relative, '.ts')}.mjs`);
  await build({
    entryPoints: [path.join(bench, relative)],
    outfile: path.join(bench, out),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    plugins: [compiledHub],
    logLevel: 'warning',
  });
  return out;
}
