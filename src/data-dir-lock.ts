// One hub per DATA_DIR: the embedded database and Redis cannot be shared, so a second hub on the same folder stops
// at start, naming the first one's pid and port. A lock left by a process that is gone is taken over.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './core/errors.ts';

interface LockInfo {
  pid: number;
  port?: number;
  startedAt: string;
}

/** A held lock: record the port once known, release at stop. */
export interface DataDirLock {
  file: string;
  setPort(port: number): void;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function read(file: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

/** Takes `<dataDir>/hub.lock`; throws a ConfigError when another live process holds it. */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = path.resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'hub.lock');
  const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(info), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const held = read(file);
      if (held && held.pid !== process.pid && alive(held.pid)) {
        throw new ConfigError(
          `Another hub (pid ${held.pid}${held.port ? `, port ${held.port}` : ''}) is already using DATA_DIR=${dir}. Stop it first, or give this one its own DATA_DIR.`,
        );
      }
      rmSync(file, { force: true }); // left behind by a process that is gone
    }
  }
  const release = () => {
    if (read(file)?.pid === process.pid) rmSync(file, { force: true });
  };
  process.once('exit', release);
  return {
    file,
    setPort(port) {
      writeFileSync(file, JSON.stringify({ ...info, port }));
    },
    release() {
      process.off('exit', release);
      release();
    },
  };
}
