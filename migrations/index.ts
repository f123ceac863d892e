// Every migration, in order. Add new files here; never edit one that has shipped.
import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-task-controls.ts';
import * as m0003 from './0003-schedules.ts';
import * as m0015 from './0015-access.ts';
import * as m0016 from './0016-scheduled-state.ts';
import * as m0020 from './0020-idempotency-and-opt-outs.ts';
import * as m0030 from './0030-llm-accounting.ts';
import * as m0040 from './0040-monitors.ts';
import * as m0050 from './0050-artifacts.ts';
import * as m0060 from './0060-outbox.ts';
import * as m0070 from './0070-admission-indexes.ts';
import * as m0080 from './0080-lean-task-indexes.ts';
import * as m0090 from './0090-event-and-outbox-keys.ts';
import * as m0100 from './0100-task-fillfactor.ts';

/** Migrations by name, applied in name order by the kysely Migrator. */
export const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-task-controls': m0002,
  '0003-schedules': m0003,
  '0015-access': m0015,
  '0016-scheduled-state': m0016,
  '0020-idempotency-and-opt-outs': m0020,
  '0030-llm-accounting': m0030,
  '0040-monitors': m0040,
  '0050-artifacts': m0050,
  '0060-outbox': m0060,
  '0070-admission-indexes': m0070,
  '0080-lean-task-indexes': m0080,
  '0090-event-and-outbox-keys': m0090,
  '0100-task-fillfactor': m0100,
};
