// Opens the database: Postgres when a URL is given, else an embedded PGlite under the data dir.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect, PGliteDialect, type Dialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrations } from '../../../migrations/index.ts';
import { HubError } from '../errors.ts';
import type { Database } from './schema.ts';
import { prepareMarked } from './prepared.ts';
import { allowStatementGroups } from './statement-group.ts';

/** A database handle plus how to close it. */
export interface DatabaseHandle {
  db: Kysely<Database>;
  kind: 'postgres' | 'pglite';
  /** The schema the tables live in, when not the default. */
  schema?: string | undefined;
  close(): Promise<void>;
}

/** Options for opening the database; `schema` isolates tests (search_path). */
export interface DatabaseOptions {
  url?: string | undefined;
  dataDir?: string;
  /** Use an in-memory PGlite (tests without Postgres). */
  memory?: boolean;
  schema?: string;
  poolSize?: number;
  /** Shown in pg_stat_activity (default `switchboard`, plus the schema when one is set). */
  applicationName?: string;
}

// Postgres returns bigint as string and timestamps as Date; keep that, and parse int8 counts explicitly.
pg.types.setTypeParser(20, (v: string) => v);

/** Opens (but does not migrate) the database described by the options. */
export async function createDatabase(opts: DatabaseOptions): Promise<DatabaseHandle> {
  let dialect: Dialect;
  let kind: DatabaseHandle['kind'];
  let extraClose = async () => {};
  if (opts.url) {
    kind = 'postgres';
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      application_name: opts.applicationName ?? (opts.schema ? `switchboard/${opts.schema}` : 'switchboard'),
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // A connection lost while idle (pool 'error') or while checked out (the client's own 'error') must not
    // crash the process: the query in flight rejects and its caller retries, the pool opens a new connection.
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
      prepareMarked(client);
    });
    dialect = new PostgresDialect({ pool });
  } else {
    kind = 'pglite';
    const { PGlite } = await import('@electric-sql/pglite');
    let dir: string | undefined;
    if (!opts.memory) {
      dir = path.resolve(opts.dataDir ?? './.data', 'pglite');
      mkdirSync(dir, { recursive: true });
    }
    const pglite = dir ? new PGlite(dir) : new PGlite();
    try {
      await pglite.waitReady;
    } catch (err) {
      throw new HubError(
        `Could not open the embedded database at ${dir}. Is another hub process using it? Only one process can open it; set DATABASE_URL to share a Postgres server.`,
        'db_open',
        err,
      );
    }
    if (opts.schema) {
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}; SET search_path TO ${opts.schema}`);
    }
    dialect = new PGliteDialect({ pglite });
    extraClose = async () => {
      if (!pglite.closed) await pglite.close();
    };
  }
  const db = new Kysely<Database>({ dialect });
  if (kind === 'postgres') allowStatementGroups(db);
  return {
    db,
    kind,
    schema: opts.schema,
    async close() {
      await db.destroy();
      await extraClose();
    },
  };
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(handle: Pick<DatabaseHandle, 'db' | 'schema'>): Promise<string[]> {
  const migrator = new Migrator({
    db: handle.db,
    provider: { getMigrations: async () => migrations },
    // Name the schema so the migrator does not mistake another schema's bookkeeping tables for its own.
    migrationTableSchema: handle.schema ?? 'public',
  });
  let { error, results } = await migrator.migrateToLatest();
  // Before running anything the migrator lists the tables of every schema; a schema dropped by someone else at that
  // moment (tests and benchmarks each use their own) fails the listing. Nothing was applied then: try again.
  for (let attempt = 1; error && !results?.length && attempt < 5; attempt++)
    ({ error, results } = await migrator.migrateToLatest());
  const failed = results?.find((r) => r.status === 'Error');
  if (error)
    throw new HubError(
      `Migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? String(error)}`,
      'migration',
      error,
    );
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
