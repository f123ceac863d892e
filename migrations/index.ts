// Every migration, in order. Add new files here; never edit one that has shipped.
import type { Migration } from 'kysely/migration';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-task-controls.ts';
import * as m0003 from './0003-schedules.ts';
// Numbers by area, so parallel work never collides: platform 0010-0019, core 0020-0029, ai 0030-0039,
// web 0040-0049, files 0050-0059.
// ── platform imports ──
import * as m0015 from './0015-access.ts';
import * as m0016 from './0016-scheduled-state.ts';
// ── end platform imports ──
// ── core imports ──
import * as m0020 from './0020-idempotency-and-opt-outs.ts';
// ── end core imports ──
// ── ai imports ──
import * as m0030 from './0030-llm-accounting.ts';
// ── end ai imports ──
// ── web imports ──
import * as m0040 from './0040-monitors.ts';
// ── end web imports ──
// ── files imports ──
import * as m0050 from './0050-artifacts.ts';
// ── end files imports ──

/** Migrations by name, applied in name order by the kysely Migrator. */
export const migrations: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-task-controls': m0002,
  '0003-schedules': m0003,
  // ── platform ──
  '0015-access': m0015,
  '0016-scheduled-state': m0016,
  // ── end platform ──
  // ── core ──
  '0020-idempotency-and-opt-outs': m0020,
  // ── end core ──
  // ── ai ──
  '0030-llm-accounting': m0030,
  // ── end ai ──
  // ── web ──
  '0040-monitors': m0040,
  // ── end web ──
  // ── files ──
  '0050-artifacts': m0050,
  // ── end files ──
};
