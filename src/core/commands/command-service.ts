// Runs chat commands for every frontend: the same grammar, permissions and answers everywhere.
import { AccessService } from '../access/access-service.ts';
import type { AdminService } from '../tasks/admin-service.ts';
import { acceptedAttachments } from '../artifacts/inbound-attachments.ts';
import { describeError, errorText, HubError } from '../errors.ts';
import type { ScheduleService } from '../schedules/schedule-service.ts';
import { runMonitorCommand } from '../monitors/monitor-command.ts';
import type { MonitorService } from '../monitors/monitor-service.ts';
import type { HubContext } from '../hub-context.ts';
import { shortId } from '../ids.ts';
import type { TaskService } from '../tasks/task-service.ts';
import { progressOf } from '../tasks/task-service.ts';
import type { ConversationRef, InboundMessage } from '../types.ts';
import { helpText, parseCommand } from './parse-command.ts';
import { describeTask, renderAck, renderTaskLine } from './describe-task.ts';

/** What a frontend should answer in the conversation. */
export interface CommandReply {
  text: string;
  kind: 'ack' | 'info' | 'error';
  /** The task this reply is about (for `ack`, a new one: the notifier acknowledges it in the conversation). */
  taskId?: string | undefined;
  actions?: Array<'cancel' | 'retry' | 'approve' | 'reject'> | undefined;
}

const DEDUP_TTL_S = 24 * 3600;

/** Deduplicates inbound events and executes the shared command grammar. */
export class CommandService {
  /** Who may use the hub; checked before any command runs. */
  readonly access: AccessService;

  constructor(
    private readonly ctx: HubContext,
    private readonly tasks: TaskService,
    private readonly admin: AdminService,
    private readonly schedules?: ScheduleService,
    private readonly monitors?: MonitorService,
    access?: AccessService,
  ) {
    this.access = access ?? new AccessService(ctx);
  }

  /**
   * Handles one inbound message; null when the platform event was already handled (a redelivery) or when a user
   * who may not use the hub was already told so recently.
   */
  async handle(msg: InboundMessage): Promise<CommandReply | null> {
    // A repeat of a platform event is dropped, except a task request: it is submitted again under the event's
    // Idempotency-Key, so a hub that died between marking the event seen and storing the task still stores it once.
    const first = await this.firstDelivery(msg);
    const again = !first && parseCommand(msg.text ?? '', msg.plainTextIsTask).name === 'task';
    if (!first && !again) return null;
    const gate = await this.access.check(msg.origin).catch((err: unknown): { allowed: false; reply: string } => {
      this.ctx.log.error({ err: errorText(err), user: msg.origin.userId }, 'access check failed');
      return { allowed: false, reply: 'I cannot check who may use this bot right now; try again in a minute.' };
    });
    if (!gate.allowed) return gate.reply === null ? null : { kind: 'error', text: gate.reply };
    const userId = msg.origin.userId;
    const caller = { userId, isAdmin: this.ctx.isAdmin(userId) };
    const cmd = parseCommand(msg.text ?? '', msg.plainTextIsTask);
    const log = this.ctx.log.child({ platform: msg.origin.platform, user: userId, command: cmd.name });
    try {
      // Plain text from a user whose task here waits for the planner's question is the answer: re-plan with it.
      if (!again && (cmd.name === 'task' || cmd.name === 'unknown') && !/^\W*(task|do)\b/i.test(msg.text)) {
        const waiting = await this.tasks.pendingQuestion(msg.origin);
        if (waiting) {
          const task = await this.tasks.revise(waiting.id, caller, msg.text);
          return {
            kind: 'info',
            taskId: task.id,
            text: `Thanks: task ${shortId(task.id)} is planned with your answer.`,
          };
        }
      }
      switch (cmd.name) {
        case 'task': {
          const { task, subtasks, warnings, replayed } = await this.tasks.submit({
            attachments: acceptedAttachments(msg.attachments),
            origin: msg.origin,
            text: cmd.text,
            priority: cmd.priority,
            requiresReview: cmd.review,
            ...(msg.eventId ? { idempotencyKey: `chat:${msg.origin.platform}:${msg.eventId}` } : {}),
          });
          if (again && replayed) return null; // the first delivery stored it and was answered
          // The notifier sends the acknowledgement (the same text) from the outbox; this reply is for callers.
          const text = [renderAck(task, subtasks), ...warnings].join('\n');
          return { kind: 'ack', taskId: task.id, text, ...(task.question ? {} : { actions: ['cancel'] }) };
        }
        case 'status': {
          const id = cmd.id ?? (await this.tasks.list(caller, { limit: 1 })).tasks[0]?.id;
          if (!id) return { kind: 'info', text: 'You have no tasks yet. Start one with: task <what to do>' };
          const detail = await this.tasks.get(id, caller, 0);
          return {
            kind: 'info',
            taskId: detail.task.id,
            text: describeTask(detail.task, progressOf(detail.task, detail.subtasks)),
            actions: actionsFor(detail.task.status),
          };
        }
        case 'tasks': {
          const { tasks } = await this.tasks.list(caller, { limit: 10 });
          return {
            kind: 'info',
            text: tasks.length
              ? ['Your recent tasks:', ...tasks.map(renderTaskLine)].join('\n')
              : 'You have no tasks yet. Start one with: task <what to do>',
          };
        }
        case 'cancel': {
          const { task, alreadyFinished } = await this.tasks.cancel(cmd.id, caller);
          return {
            kind: 'info',
            taskId: task.id,
            text: alreadyFinished
              ? `Task ${shortId(task.id)} has already finished (${task.status}); nothing to cancel.`
              : `Cancelling task ${shortId(task.id)}.`,
          };
        }
        case 'retry': {
          const task = await this.tasks.retry(cmd.id, caller);
          return { kind: 'info', taskId: task.id, text: `Retrying task ${shortId(task.id)} from where it failed.` };
        }
        case 'duplicate': {
          const { task } = await this.tasks.duplicate(cmd.id, caller, msg.origin);
          return {
            kind: 'ack',
            taskId: task.id,
            actions: ['cancel'],
            text: `Got it: task ${shortId(task.id)} queued again as a new task.`,
          };
        }
        case 'approve': {
          const task = await this.tasks.approve(cmd.id, caller);
          return { kind: 'info', taskId: task.id, text: `Task ${shortId(task.id)} approved.` };
        }
        case 'reject': {
          const task = await this.tasks.reject(cmd.id, caller, cmd.reason);
          return { kind: 'info', taskId: task.id, text: `Task ${shortId(task.id)} rejected.` };
        }
        case 'revise': {
          const task = await this.tasks.revise(cmd.id, caller, cmd.feedback);
          return {
            kind: 'info',
            taskId: task.id,
            text: `Task ${shortId(task.id)} is being re-planned with your feedback.`,
          };
        }
        case 'schedule': {
          const { schedule, nextRunAt } = await this.requireSchedules().createFromText({
            origin: standing(msg.origin),
            text: cmd.text,
          });
          const next = nextRunAt ? ` Next run: ${nextRunAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.` : '';
          return {
            kind: 'info',
            text: `Scheduled ${schedule.id.slice(0, 8)}: ${schedule.description} "${schedule.text.slice(0, 80)}".${next}`,
          };
        }
        case 'schedules': {
          const svc = this.requireSchedules();
          if (!cmd.action) {
            const list = await svc.list(caller);
            return {
              kind: 'info',
              text: list.length
                ? [
                    'Your schedules:',
                    ...list.map(
                      (s) => `${s.id.slice(0, 8)} ${s.status.padEnd(7)} ${s.description}: ${s.text.slice(0, 60)}`,
                    ),
                  ].join('\n')
                : 'You have no schedules. Start one with: every day at 9:00 <what to do>',
            };
          }
          const change = await svc[cmd.action](cmd.id!, caller);
          return { kind: 'info', text: `Schedule ${change.schedule.id.slice(0, 8)} is now ${change.schedule.status}.` };
        }
        case 'timezone': {
          const svc = this.requireSchedules();
          if (!cmd.zone)
            return {
              kind: 'info',
              text: `Your time zone is ${await svc.getTimezone(userId)}. Change it with: timezone Europe/Berlin`,
            };
          return { kind: 'info', text: `Your time zone is now ${await svc.setTimezone(userId, cmd.zone)}.` };
        }
        case 'monitor':
          return await runMonitorCommand(this.monitors, cmd, standing(msg.origin), caller);
        case 'admin':
          return await this.runAdmin(cmd, userId);
        case 'help':
          return { kind: 'info', text: helpText(cmd.topic) };
        case 'usage':
          return { kind: 'error', text: cmd.message };
        case 'unknown':
          return { kind: 'error', text: `I don't know "${cmd.word.slice(0, 40)}".\n${helpText()}` };
      }
    } catch (err) {
      const d = describeError(err);
      if (d.status >= 500) log.error({ err }, 'command failed');
      return { kind: 'error', text: d.message };
    }
  }

  private async runAdmin(
    cmd: Extract<ReturnType<typeof parseCommand>, { name: 'admin' }>,
    userId: string,
  ): Promise<CommandReply> {
    this.admin.assertAdmin(userId);
    switch (cmd.sub) {
      case 'failed': {
        const rows = await this.admin.listFailed({ capability: cmd.capability, limit: 20 });
        return {
          kind: 'info',
          text: rows.length
            ? [
                'Dead letters:',
                ...rows.map(
                  (r) => `${shortId(r.task_id)} ${r.capability} (${r.attempts} attempts): ${r.error.slice(0, 120)}`,
                ),
              ].join('\n')
            : 'No dead letters.',
        };
      }
      case 'reprocess': {
        const r = await this.admin.reprocess(cmd.id, userId);
        return {
          kind: 'info',
          taskId: r.taskId,
          text: `Reprocessing task ${shortId(r.taskId)} (${r.subtasks} step${r.subtasks === 1 ? '' : 's'} again).`,
        };
      }
      case 'reprocess-all': {
        const r = await this.admin.reprocessAll(userId, { capability: cmd.capability });
        return {
          kind: 'info',
          text: `Reprocessing ${r.tasks.length} task(s).${r.errors.length ? `\nNot reprocessed: ${r.errors.join('; ')}` : ''}`,
        };
      }
      case 'priority': {
        const r = await this.admin.setPriority(cmd.id, cmd.priority, userId);
        return {
          kind: 'info',
          taskId: r.taskId,
          text: `Task ${shortId(r.taskId)} is now ${cmd.priority} (${r.requeued} queued job${r.requeued === 1 ? '' : 's'} re-prioritised).`,
        };
      }
      case 'workers': {
        const ws = await this.admin.workers();
        return {
          kind: 'info',
          text: ws.length
            ? [
                'Workers:',
                ...ws.map((w) => `${w.id} ${w.state} ${w.running}/${w.concurrency} ${w.patterns.join(',')}`),
              ].join('\n')
            : 'No live workers.',
        };
      }
      case 'pair': {
        const { userId: paired } = await this.access.approve(cmd.code, userId);
        return { kind: 'info', text: `Paired: ${paired} may use the bot now.` };
      }
      case 'unpair': {
        const r = await this.access.revoke(cmd.user, userId);
        return {
          kind: 'info',
          text: `${r.userId} is no longer paired.${r.stillListed ? ' HUB_ALLOWED_USERS or HUB_ADMINS still let them in.' : ''}`,
        };
      }
      case 'access': {
        const o = await this.access.overview();
        if (o.open)
          return { kind: 'info', text: 'Everyone may use this bot (HUB_ALLOWED_USERS is empty, HUB_PAIRING is off).' };
        return {
          kind: 'info',
          text: [
            `Allowed: admins${o.patterns.length ? `, ${o.patterns.join(', ')}` : ''}${o.pairing ? ', paired users' : ''}.`,
            ...(o.pairing
              ? [
                  `Paired (${o.grants.length}): ${o.grants.map((g) => g.user_id).join(', ') || 'nobody yet'}`,
                  `Waiting for approval (${o.pending.length}): ${o.pending.map((p) => `${p.code} ${p.user_id}`).join(', ') || 'none'}`,
                ]
              : []),
          ].join('\n'),
        };
      }
      case 'queues': {
        const qs = await this.admin.queues();
        return {
          kind: 'info',
          text: qs.length
            ? [
                'Queues (waiting/active/delayed/failed):',
                ...qs.map((q) => `${q.capability}: ${q.waiting + q.prioritized}/${q.active}/${q.delayed}/${q.failed}`),
              ].join('\n')
            : 'No queues yet.',
        };
      }
    }
  }

  private requireSchedules(): ScheduleService {
    if (!this.schedules) throw new HubError('Schedules are not available on this hub.', 'unavailable');
    return this.schedules;
  }

  /** True the first time a platform event id is seen; a Redis failure lets the message through (never lose a request). */
  private async firstDelivery(msg: InboundMessage): Promise<boolean> {
    if (!msg.eventId) return true;
    try {
      const ok = await this.ctx.redis.set(
        this.ctx.keys.inbound(msg.origin.platform, msg.eventId),
        '1',
        'EX',
        DEDUP_TTL_S,
        'NX',
      );
      return ok === 'OK';
    } catch (err) {
      this.ctx.log.warn({ err }, 'inbound dedup unavailable; handling the message');
      return true;
    }
  }
}

function actionsFor(status: string): CommandReply['actions'] {
  if (status === 'FAILED') return ['retry'];
  if (status === 'REVIEW') return ['approve', 'reject'];
  if (['COMPLETED', 'CANCELLED', 'REJECTED'].includes(status)) return undefined;
  return ['cancel'];
}

/** An origin for standing work (schedules, monitors): their runs are new tasks, not this request's placeholder. */
function standing(origin: ConversationRef): ConversationRef {
  const { progressMessageId: _, ...rest } = origin;
  return rest;
}
