// Starts a hub in this process on its own prefix and schema, with the bench frontend and a counted database.
import type { Config } from '../../src/core/config.ts';
import type { Planner } from '../../src/core/planning/plan.ts';
import type { Hub } from '../../src/main.ts';
import { BenchFrontend, finalsTracker } from './bench-frontend.ts';
import type { BenchEnv, CountedDatabase } from './env.ts';

/** A hub under benchmark and the handles around it. */
export interface BenchHub {
  name: string;
  prefix: string;
  config: Config;
  hub: Hub;
  db: CountedDatabase;
  frontend: BenchFrontend;
  finals: ReturnType<typeof finalsTracker>;
  /** Stops the hub, deletes its keys and drops its schema. */
  close(): Promise<void>;
}

/** Starts a hub named `name` (prefix and schema derive from it); no embedded workers. */
export async function startBenchHub(
  env: BenchEnv,
  name: string,
  opts: {
    config?: Record<string, string>;
    planner?: Planner;
    poolSize?: number;
  } = {},
): Promise<BenchHub> {
  const prefix = env.prefix(name);
  const config = env.config(prefix, opts.config);
  const db = await env.openDatabase(name, opts.poolSize ?? 10);
  const frontend = new BenchFrontend();
  // Imported on demand: a bundle of a bench script (bundle.ts) imports the compiled hub here instead.
  const { startHub } = await import('../../src/main.ts');
  const hub = await startHub({
    config,
    database: db,
    embeddedWorkers: false,
    frontends: [frontend],
    planner: opts.planner,
  });
  const finals = finalsTracker(frontend);
  let closed = false;
  return {
    name,
    prefix,
    config,
    hub,
    db,
    frontend,
    finals,
    async close() {
      if (closed) return;
      closed = true;
      await hub.stop();
      await db.close();
      await env.deleteKeys(prefix);
      await env.dropSchema(db.schema!);
    },
  };
}
