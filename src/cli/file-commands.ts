// Task files from the command line: attach files to a submission (multipart), list a task's files, download one.
import { createHash } from 'node:crypto';
import { existsSync, openAsBlob, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import type { artifactJson } from '../frontends/web/artifact-routes.ts';
import { ApiClient, clientSettings, CliError } from './api-client.ts';
import { ago, table } from './format.ts';
import { action } from './run-action.ts';

/** A task file as GET /api/tasks/:id/artifacts lists it: the type of the route's own zod schema. */
export type ArtifactView = z.infer<typeof artifactJson>;

/** Media types of common extensions; the hub plans file work by type and name (others go as octet-stream). */
const MEDIA_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.log': 'text/plain',
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.zip': 'application/zip',
};

const formatBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Repeatable option collector: `--file a --file b` → ['a', 'b']. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A multipart body with the submission's fields and one `file` part per path; a missing file is a clear error. */
export async function submitForm(fields: Record<string, unknown>, files: string[]): Promise<FormData> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
  for (const file of files) {
    if (!existsSync(file) || !statSync(file).isFile())
      throw new CliError(`Cannot attach ${file}: no such file (give a path to a file, e.g. --file ./report.pdf).`);
    const type = MEDIA_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    form.append('file', await openAsBlob(file, { type }), path.basename(file));
  }
  return form;
}

/** Where a download goes: --output (a folder or a file), else the file's own name in the current folder. */
function targetOf(name: string, output: string | undefined): string {
  const own = path.basename(name) || 'download';
  if (!output) return path.resolve(own);
  return existsSync(output) && statSync(output).isDirectory() ? path.join(output, own) : path.resolve(output);
}

/** Adds `tasks artifacts <id> [--download <name>]` under the `tasks` command. */
export function registerArtifactCommands(tasks: Command): void {
  tasks
    .command('artifacts')
    .description("a task's files (uploads and outputs); --download <name> saves one")
    .argument('<id>', 'task id or its first characters (4+)')
    .option('-d, --download <name>', 'save this file (its name as listed)')
    .option('-o, --output <path>', 'where to save it: a file or a folder (default: ./<name>)')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { download?: string; output?: string; force?: boolean; json?: boolean }) => {
        const api = new ApiClient(clientSettings());
        const enc = encodeURIComponent;
        if (!opts.download) {
          const res = await api.request<{ artifacts: ArtifactView[] }>('GET', `/api/tasks/${enc(id)}/artifacts`);
          if (opts.json) return print(JSON.stringify(res, null, 2));
          if (res.artifacts.length === 0) return print('This task has no files.');
          const rows = res.artifacts.map((a) => [
            a.name,
            a.mediaType,
            formatBytes(a.size),
            a.producer === 'upload' ? 'upload' : `step ${a.subtaskId?.slice(0, 8) ?? ''}`,
            ago(a.createdAt),
          ]);
          print(table(['NAME', 'TYPE', 'SIZE', 'FROM', 'ADDED'], rows));
          return print(`Save one with: npx switchboard tasks artifacts ${id} --download <name>`);
        }
        const target = targetOf(opts.download, opts.output);
        if (existsSync(target) && !opts.force)
          throw new CliError(`${target} already exists; pass --force to overwrite it or --output to save elsewhere.`);
        const res = await api.get(`/api/tasks/${enc(id)}/artifacts/${enc(opts.download)}`);
        const bytes = Buffer.from(await res.arrayBuffer());
        const expected = res.headers.get('x-checksum-sha256');
        const actual = createHash('sha256').update(bytes).digest('hex');
        if (expected && expected !== actual)
          throw new CliError(`The download of ${opts.download} is damaged (SHA-256 mismatch); nothing was saved.`);
        await writeFile(target, bytes);
        const saved = { name: opts.download, path: target, size: bytes.length, sha256: actual };
        if (opts.json) return print(JSON.stringify(saved, null, 2));
        print(`Saved ${opts.download} (${formatBytes(bytes.length)}) to ${target}.`);
      }),
    );
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
