// Non-invasive timing hooks on a running hub: a planner that timestamps, and wrappers around queue adds and frontend sends.
import type { Queue } from 'bullmq';
import type { Plan, Planner, PlanRequest } from '../../src/core/planning/plan.ts';
import { RulePlanner } from '../../src/core/planning/rule-planner.ts';
import type { IFrontend, OutboundMessage } from '../../src/frontends/frontend.ts';
import type { Hub } from '../../src/main.ts';
import { nowMs } from './stats.ts';

/** The rule planner, timestamping (nowMs()) each plan by request text while `tracking`. */
export class TimingPlanner implements Planner {
  readonly planned = new Map<string, number>();
  tracking = false;
  private readonly inner = new RulePlanner();

  async plan(req: PlanRequest): Promise<Plan> {
    const plan = await this.inner.plan(req);
    if (this.tracking) this.planned.set(req.text, nowMs());
    return plan;
  }
}

/** Calls `fn(taskIds, calledAt, resolvedAt)` around every add/addBulk on a capability queue of the hub. */
export function onEnqueue(
  hub: Hub,
  capability: string,
  fn: (taskIds: string[], calledAt: number, resolvedAt: number) => void,
): void {
  const q = hub.ctx.queues.forCapability(capability) as Queue & Record<string, unknown>;
  const addBulk = q.addBulk.bind(q);
  const add = q.add.bind(q);
  q.addBulk = (async (jobs: Parameters<Queue['addBulk']>[0]) => {
    const c = nowMs();
    const r = await addBulk(jobs);
    fn(
      jobs.map((j) => (j.data as { taskId: string }).taskId),
      c,
      nowMs(),
    );
    return r;
  }) as Queue['addBulk'];
  q.add = (async (name: string, data: { taskId: string }, opts?: Parameters<Queue['add']>[2]) => {
    const c = nowMs();
    const r = await add(name, data, opts);
    fn([data.taskId], c, nowMs());
    return r;
  }) as Queue['add'];
}

/** Calls `fn(message, at)` whenever the hub hands a message to this frontend's `send` (at = nowMs()). */
export function onFrontendSend(frontend: IFrontend, fn: (message: OutboundMessage, at: number) => void): void {
  const send = frontend.send.bind(frontend);
  (frontend as { send: IFrontend['send'] }).send = (ref, message) => {
    fn(message, nowMs());
    return send(ref, message);
  };
}
