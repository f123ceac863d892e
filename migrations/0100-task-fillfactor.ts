// Room on each `tasks` page for its rows' later versions. A single-step task's row is written four times: inserted,
// completed, then its acknowledgement's and its final message's delivery marks. The marks change no indexed column,
// so Postgres can keep their new versions on the same page without touching any index (a HOT update), but only when
// the page has room; pages filled to the brim by inserts had none, and each mark added an entry to every index.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table tasks set (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table tasks reset (fillfactor)`.execute(db);
}
