// Postgres faults on real Postgres: the hub's connections are killed while work is in flight; the hub survives
// and every task still finishes once.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { databaseUrl } from './helpers/test-env.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Terminates every backend of this test's hub (as a Postgres restart would), returning how many. */
async function killHubConnections(schema: string): Promise<number> {
  const admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  try {
    const r = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [`switchboard/${schema}`],
    );
    return r.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describe.skipIf(!databaseUrl())('postgres faults', () => {
  it('connections killed mid-flight (as in a Postgres restart): the hub survives and all 40 tasks complete once', async () => {
    const tasks = await Promise.all(Array.from({ length: 40 }, (_, i) => h.submit(`fault ${i} in 3 steps`)));
    let killed = 0;
    for (let round = 0; round < 3; round++) {
      await h.until(
        async () =>
          (
            await h.hub.ctx.db
              .selectFrom('subtasks')
              .select('id')
              .where('status', '=', 'SUCCEEDED')
              .limit(1 + round * 20)
              .execute()
          ).length >
          round * 20
            ? true
            : undefined,
        20_000,
        'progress',
      );
      killed += await killHubConnections(h.env.schema);
    }
    expect(killed).toBeGreaterThan(0);
    for (const t of tasks) await h.waitForTask(t.id, (x) => x.status === 'COMPLETED' && x.final_notified, 60_000);
    for (const t of tasks) {
      const finals = h.chat.forTask(t.id).filter((d) => d.op === 'send' && d.message.kind === 'result');
      expect(finals).toHaveLength(1);
    }
  }, 90_000);
});
