// The fault suite: the hub and workers as processes on a private Redis and a private Postgres cluster, a chat platform
// fake recording every message; each fault must lose no task, complete none twice, send no final message twice (but
// for a platform call in flight at a crash, counted), deliver every result within the stated bound, and leave the hub
// running. Every test adds a line of numbers to the summary printed at the end.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultScenario, reports, summary, type FaultReport } from './fault-harness.ts';
import { PrivatePostgres, postgresBinDir } from './fault-servers.ts';

let pg: PrivatePostgres;
let scenario: FaultScenario | undefined;

beforeAll(async () => {
  pg = await PrivatePostgres.start();
}, 60_000);
afterEach(async () => {
  await scenario?.close();
  scenario = undefined;
});
afterAll(async () => {
  await pg?.close();
  if (reports.length) process.stdout.write(summary());
});

/** The invariants every fault must keep. */
function expectClean(r: FaultReport, o: { inFlightAllowed?: number } = {}): void {
  expect(r, JSON.stringify(r)).toMatchObject({
    lost: 0,
    undelivered: 0,
    notCompleted: 0,
    duplicateCompletions: 0,
    duplicateFinals: 0,
  });
  expect(r.inFlightDuplicates).toBeLessThanOrEqual(o.inFlightAllowed ?? 0);
  expect(r.finalMs).toBeGreaterThanOrEqual(0);
  expect(r.deliveredMs).toBeGreaterThanOrEqual(0);
}

describe.skipIf(!postgresBinDir())('faults', () => {
  it('(a) a worker killed with SIGKILL mid-task: its jobs run elsewhere, every task completes once', async () => {
    const s = (scenario = await FaultScenario.start(pg));
    const hub = await s.hub();
    const doomed = await s.worker(8);
    const chats = s.chat.submit(16, (i) => `long work sleep 2 seconds 20 items ${i}`);
    await s.chat.untilAcked(chats, chats.length);
    await s.until(
      async () => (await s.rows(`SELECT 1 FROM subtasks WHERE status = 'RUNNING'`)).length >= 8 || undefined,
      20_000,
      '8 running subtasks',
    );
    await doomed.kill9();
    const faultAt = Date.now();
    await s.worker(8);
    const r = await s.settle('worker kill -9 mid-task', chats, { faultAt, boundMs: 30_000 });
    expectClean(r);
    expect(hub.alive).toBe(true);
  }, 90_000);
});
