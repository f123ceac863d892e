// Every migration, in order. Add new files here; never edit one that has shipped.
import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-task-controls.ts';
import * as m0003 from './0003-schedules.ts';

/** Migrations by name, applied in name order by the kysely Migrator. */
export const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-task-controls': m0002,
  '0003-schedules': m0003,
};
