// Where code.analyze reads from: a shallow clone (https on CODE_ALLOW_HOSTS, or file:// under CODE_ROOTS) or a folder
// under CODE_ROOTS. Read-only: a clone never runs hooks, and nothing is ever pushed or executed.
import { execFile } from 'node:child_process';
import { mkdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Config } from '../../../core/config.ts';

const run = promisify(execFile);

/** A source refused before anything was fetched; retrying cannot help. */
export class SourceRefused extends Error {
  override name = 'SourceRefused';
}

/** A folder to read, and how to clean it up when done. */
export interface CodeSource {
  dir: string;
  kind: 'clone' | 'folder';
  dispose(): Promise<void>;
}

async function underRoots(config: Config, path: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    throw new SourceRefused(`"${path}" does not exist.`);
  }
  for (const root of config.CODE_ROOTS) {
    const r = await realpath(root).catch(() => null);
    if (r && (real === r || real.startsWith(r.endsWith(sep) ? r : r + sep))) return real;
  }
  throw new SourceRefused(
    `"${path}" is not under an allowed folder (CODE_ROOTS: ${config.CODE_ROOTS.join(', ') || 'none set'}).`,
  );
}

/** Resolves (and for URLs, shallow-clones) a source into a folder, refusing anything not allowed. */
export async function openSource(
  config: Config,
  source: string,
  scratch: { taskId: string; subtaskId: string },
  signal: AbortSignal,
): Promise<CodeSource> {
  let cloneUrl: string | null = null;
  if (/^https:\/\//i.test(source)) {
    const host = new URL(source).hostname.toLowerCase();
    if (!config.CODE_ALLOW_HOSTS.map((h) => h.toLowerCase()).includes(host))
      throw new SourceRefused(
        `The host ${host} is not allowed (CODE_ALLOW_HOSTS: ${config.CODE_ALLOW_HOSTS.join(', ') || 'none set'}).`,
      );
    cloneUrl = source;
  } else if (/^file:\/\//i.test(source)) {
    cloneUrl = `file://${await underRoots(config, fileURLToPath(source))}`;
  } else if (source.startsWith('/')) {
    const dir = await underRoots(config, source);
    if (!(await stat(dir)).isDirectory()) throw new SourceRefused(`"${source}" is not a folder.`);
    return { dir, kind: 'folder', dispose: async () => {} };
  } else {
    throw new SourceRefused(`"${source.slice(0, 200)}" is not a https:// git URL, a file:// URL or an absolute path.`);
  }
  const base = join(config.CODE_WORK_DIR ?? join(tmpdir(), 'switchboard-code'), scratch.taskId, scratch.subtaskId);
  await rm(base, { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  const dir = join(base, 'repo');
  const dispose = () => rm(base, { recursive: true, force: true });
  try {
    await run(
      'git',
      [
        '-c',
        'core.hooksPath=/dev/null',
        '-c',
        'protocol.file.allow=always',
        'clone',
        '--depth',
        '1',
        '--single-branch',
        '--no-tags',
        '--',
        cloneUrl,
        dir,
      ],
      {
        signal,
        timeout: 300_000,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_TERMINAL_PROMPT: '0', GIT_LFS_SKIP_SMUDGE: '1' },
      },
    );
    const { stdout } = await run('du', ['-sk', dir], { signal });
    const bytes = Number(stdout.split(/\s/)[0]) * 1024;
    if (bytes > config.CODE_MAX_BYTES)
      throw new SourceRefused(`The repository is ${Math.round(bytes / 1048576)} MB, over CODE_MAX_BYTES.`);
  } catch (err) {
    await dispose();
    if (err instanceof SourceRefused) throw err;
    throw new Error(
      `git clone failed: ${String((err as { stderr?: string }).stderr ?? (err as Error).message)
        .trim()
        .slice(-500)}`,
    );
  }
  return { dir, kind: 'clone', dispose };
}
