// What is in a code base (languages, files, lines) and where a topic shows up in it (file:line references).
import { open, readdir, stat } from 'node:fs/promises';
import { extname, join, relative } from 'node:path';

const LANGUAGES: Record<string, string> = {
  '.ts': 'TypeScript',
  '.tsx': 'TypeScript',
  '.js': 'JavaScript',
  '.mjs': 'JavaScript',
  '.cjs': 'JavaScript',
  '.jsx': 'JavaScript',
  '.py': 'Python',
  '.go': 'Go',
  '.rs': 'Rust',
  '.java': 'Java',
  '.kt': 'Kotlin',
  '.rb': 'Ruby',
  '.php': 'PHP',
  '.cs': 'C#',
  '.c': 'C',
  '.h': 'C',
  '.cpp': 'C++',
  '.hpp': 'C++',
  '.swift': 'Swift',
  '.scala': 'Scala',
  '.sh': 'Shell',
  '.sql': 'SQL',
  '.md': 'Markdown',
  '.json': 'JSON',
  '.yaml': 'YAML',
  '.yml': 'YAML',
  '.toml': 'TOML',
  '.xml': 'XML',
  '.html': 'HTML',
  '.css': 'CSS',
  '.ini': 'INI',
  '.conf': 'Config',
  '.properties': 'Config',
};
const SKIP_DIRS = new Set([
  '.git',
  'node_modules',
  'vendor',
  'dist',
  'build',
  'target',
  '.venv',
  '__pycache__',
  '.next',
]);
const MAX_FILE_BYTES = 1024 * 1024;

/** Languages, files and lines of a code base. */
export interface Inventory {
  files: number;
  lines: number;
  languages: Array<{ language: string; files: number; lines: number }>;
  truncated?: boolean;
}

/** One place a topic shows up. */
export interface CodeMatch {
  file: string;
  line: number;
  text: string;
}

/** Search terms for a topic: known topics get curated patterns, others their significant words. */
export function topicPatterns(topic: string): { name: string; code: RegExp; configFile: RegExp | null } {
  const t = topic.toLowerCase();
  if (/\blog(s|ging|ger)?\b/.test(t))
    return {
      name: 'logging',
      code: /\b(console\.(log|warn|error|info|debug)|logger\.\w+|log\.(info|warn|error|debug|trace|fatal)|logging\.\w+|import logging|pino|winston|bunyan|log4j|slf4j|getLogger|println!|fmt\.Print\w*|print\()/,
      configFile: /(^|\/)(log(ging|4j|back)?[\w.-]*\.(json|ya?ml|conf|ini|xml|properties|toml)|\.env(\.\w+)?)$/i,
    };
  const stop = new Set([
    'analyze',
    'analyse',
    'improve',
    'review',
    'audit',
    'code',
    'codebase',
    'base',
    'repo',
    'repository',
    'project',
    'system',
    'please',
    'with',
    'from',
    'this',
    'that',
    'the',
    'and',
    'my',
    'our',
    'in',
    'of',
    'for',
  ]);
  const words = [...new Set(t.match(/[a-z_][a-z0-9_]{3,}/g) ?? [])].filter((w) => !stop.has(w)).slice(0, 8);
  const esc = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return {
    name: words.join(', ') || 'none',
    code: esc.length ? new RegExp(`\\b(${esc.join('|')})`, 'i') : /$^/,
    configFile: null,
  };
}

async function* walk(root: string, dir = root): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isSymbolicLink()) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) yield* walk(root, p);
    } else if (e.isFile()) yield p;
  }
}

async function readText(path: string): Promise<string | null> {
  const s = await stat(path);
  if (s.size > MAX_FILE_BYTES) return null;
  const fh = await open(path, 'r');
  try {
    const buf = await fh.readFile();
    if (buf.subarray(0, 8000).includes(0)) return null; // binary
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Inventory plus matches of the topic, with file:line references (capped), and the files whose text was read. */
export async function analyzeTree(
  root: string,
  topic: string,
  opts: { maxFiles: number; maxMatches: number; signal: AbortSignal },
): Promise<{
  inventory: Inventory;
  topic: string;
  matches: CodeMatch[];
  configFiles: string[];
  excerpts: Array<{ file: string; text: string }>;
}> {
  const pattern = topicPatterns(topic);
  const langs = new Map<string, { files: number; lines: number }>();
  const matches: CodeMatch[] = [];
  const configFiles: string[] = [];
  const hitFiles = new Map<string, string>();
  let files = 0;
  let lines = 0;
  let truncated = false;
  for await (const path of walk(root)) {
    opts.signal.throwIfAborted();
    if (files >= opts.maxFiles) {
      truncated = true;
      break;
    }
    const rel = relative(root, path);
    const text = await readText(path).catch(() => null);
    if (text === null) continue;
    files++;
    const n = text.length === 0 ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    lines += n;
    const lang = LANGUAGES[extname(path).toLowerCase()] ?? 'Other';
    const l = langs.get(lang) ?? { files: 0, lines: 0 };
    langs.set(lang, { files: l.files + 1, lines: l.lines + n });
    if (pattern.configFile?.test(rel)) configFiles.push(rel);
    text.split('\n').forEach((line, i) => {
      if (matches.length < opts.maxMatches && pattern.code.test(line)) {
        matches.push({ file: rel, line: i + 1, text: line.trim().slice(0, 200) });
        if (!hitFiles.has(rel) && hitFiles.size < 5 && text.length <= 20_000) hitFiles.set(rel, text);
      }
    });
  }
  return {
    inventory: {
      files,
      lines,
      languages: [...langs].map(([language, v]) => ({ language, ...v })).sort((a, b) => b.lines - a.lines),
      ...(truncated ? { truncated } : {}),
    },
    topic: pattern.name,
    matches,
    configFiles,
    excerpts: [...hitFiles].map(([file, text]) => ({ file, text })),
  };
}
