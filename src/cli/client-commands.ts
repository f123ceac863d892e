// The commands that talk to a running hub over its HTTP API: submit, tasks, cancel, retry and the admin ones.
import { Option, type Command } from 'commander';
import { ApiClient, clientSettings, CliError } from './api-client.ts';
import { registerArtifactCommands, collect, submitForm } from './file-commands.ts';
import { followTask } from './follow.ts';
import { ago, duration, formatResult, table, taskDetail, taskTable, truncate, type TaskView } from './format.ts';
import { action } from './run-action.ts';
import { aiSummary, traceText, type TaskAiView, type TracesView } from './trace-format.ts';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const err = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));
const client = () => new ApiClient(clientSettings());
const enc = encodeURIComponent;
const attached = (files: string[] | undefined) =>
  files?.length ? ` with ${files.length} file${files.length === 1 ? '' : 's'}` : '';

/** Prints how a followed task ended; failed and cancelled tasks set exit code 1. */
function printOutcome(task: TaskView): void {
  if (task.status === 'COMPLETED') {
    const took =
      task.startedAt && task.finishedAt
        ? ` in ${duration(new Date(task.finishedAt).getTime() - new Date(task.startedAt).getTime())}`
        : '';
    out(`Task ${task.shortId} completed${took}.`);
    out(formatResult(task.result));
    return;
  }
  if (task.status === 'REVIEW') {
    out(
      `Task ${task.shortId} is waiting for review.${task.result === null || task.result === undefined ? '' : `\nResult so far:\n${formatResult(task.result)}`}`,
    );
    out(
      `Decide with: npx switchboard approve ${task.shortId} | reject ${task.shortId} [reason] | revise ${task.shortId} <what to change>`,
    );
    return;
  }
  process.exitCode = 1;
  if (task.status === 'FAILED')
    err(
      `Task ${task.shortId} failed: ${task.error ?? 'no reason given'}\nRetry it with: npx switchboard retry ${task.shortId}`,
    );
  else if (task.status === 'CANCELLED') err(`Task ${task.shortId} was cancelled.${task.error ? ` ${task.error}` : ''}`);
  else err(`Task ${task.shortId} is ${task.status}.`);
}

/** Follows a task until it ends and prints the outcome; Ctrl-C stops following, not the task. */
async function followAndReport(api: ApiClient, id: string, shortId: string, json: boolean): Promise<void> {
  const onInterrupt = () => {
    if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
    err(`\nStopped following. Task ${shortId} keeps running; follow it again with: npx switchboard follow ${shortId}`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    const task = await followTask(api, id, { out: process.stdout, tty: Boolean(process.stdout.isTTY) && !json, json });
    if (json) {
      printJson({ task });
      if (task.status !== 'COMPLETED') process.exitCode = 1;
    } else {
      printOutcome(task);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** Adds the client commands to the program. */
export function registerClientCommands(program: Command): void {
  program
    .command('submit')
    .description('submit a request as a new task')
    .argument('<text...>', 'what you want done')
    .addOption(new Option('-p, --priority <priority>', 'how urgent it is').choices(['urgent', 'normal', 'low']))
    .option('-f, --follow', 'show live progress until the task ends, then its result')
    .option('--review', 'stop for approval before the task completes')
    .option('--file <path>', 'attach a file (repeat for more); uploaded as multipart/form-data', collect)
    .option('--json', 'print raw JSON')
    .action(
      action(
        async (
          words: string[],
          opts: { priority?: string; follow?: boolean; review?: boolean; file?: string[]; json?: boolean },
        ) => {
          const api = client();
          const fields: Record<string, unknown> = { text: words.join(' ') };
          if (opts.priority) fields.priority = opts.priority;
          if (opts.review) fields.review = true;
          const body = opts.file?.length ? await submitForm(fields, opts.file) : fields;
          const res = await api.request<{ task: TaskView; warnings: string[] }>('POST', '/api/tasks', body);
          if (!opts.follow) {
            if (opts.json) return printJson(res);
            out(`Task ${res.task.shortId} submitted (${res.task.status})${attached(opts.file)}.`);
            for (const w of res.warnings) err(`warning: ${w}`);
            out(`Follow it with: npx switchboard follow ${res.task.shortId}`);
            return;
          }
          if (!opts.json) {
            out(`Task ${res.task.shortId} submitted.`);
            for (const w of res.warnings) err(`warning: ${w}`);
          }
          await followAndReport(api, res.task.id, res.task.shortId, Boolean(opts.json));
        },
      ),
    );

  program
    .command('follow')
    .description('show the live progress of any task (also one started from a chat) until it ends, then its result')
    .argument('<id>', 'task id or its first characters (4+)')
    .option('--json', 'print each event as a JSON line, then the task')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const api = client();
        const { task } = await api.request<{ task: TaskView }>('GET', `/api/tasks/${enc(id)}`);
        if (!opts.json) out(`Following task ${task.shortId}: ${truncate(task.text, 80)}`);
        await followAndReport(api, task.id, task.shortId, Boolean(opts.json));
      }),
    );

  const tasks = program.command('tasks').description("list and show tasks, and a task's files");
  tasks
    .command('list')
    .description("your tasks, newest first (--all: everyone's, admins only)")
    .option('-s, --status <status>', 'only tasks in this state, e.g. failed')
    .option('-a, --all', "every user's tasks (admins)")
    .option('-n, --limit <n>', 'how many (1-100)', '20')
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { status?: string; all?: boolean; limit: string; cursor?: string; json?: boolean }) => {
        const q = new URLSearchParams({ limit: opts.limit });
        if (opts.status) q.set('status', opts.status);
        if (opts.cursor) q.set('cursor', opts.cursor);
        const res = await client().request<{ tasks: TaskView[]; nextCursor: string | null }>(
          'GET',
          `${opts.all ? '/api/admin/tasks' : '/api/tasks'}?${q}`,
        );
        if (opts.json) return printJson(res);
        out(taskTable(res.tasks, opts.all));
        if (res.nextCursor)
          out(`More: npx switchboard tasks list --cursor ${res.nextCursor}${opts.all ? ' --all' : ''}`);
      }),
    );
  tasks
    .command('show')
    .description('a task with its steps, progress, result, recent events and LLM usage (--trace: the trace)')
    .argument('<id>', 'task id or its first characters (4+)')
    .option('--trace', 'also show the trace: LLM calls, tool calls, decisions, checkpoints, errors')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean; trace?: boolean }) => {
        const api = client();
        const res = await api.request<{ task: TaskView & TaskAiView }>('GET', `/api/tasks/${enc(id)}`);
        const traces = opts.trace
          ? await api.request<TracesView>('GET', `/api/tasks/${enc(res.task.id)}/traces`)
          : undefined;
        if (opts.json) return printJson(traces ? { ...res, traces } : res);
        out(taskDetail(res.task));
        const ai = aiSummary(res.task);
        if (ai) out(`\n${ai}`);
        if (traces) out(traceText(traces));
      }),
    );
  registerArtifactCommands(tasks);

  program
    .command('cancel')
    .description('cancel a task that is still running')
    .argument('<id>', 'task id or its first characters')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const res = await client().request<{ task: TaskView; alreadyFinished: boolean }>(
          'POST',
          `/api/tasks/${enc(id)}/cancel`,
        );
        if (opts.json) return printJson(res);
        out(
          res.alreadyFinished
            ? `Task ${res.task.shortId} had already finished (${res.task.status}).`
            : `Task ${res.task.shortId} cancelled.`,
        );
      }),
    );

  program
    .command('retry')
    .description('run a failed task again from where it failed')
    .argument('<id>', 'task id or its first characters')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const res = await client().request<{ task: TaskView }>('POST', `/api/tasks/${enc(id)}/retry`);
        if (opts.json) return printJson(res);
        out(`Task ${res.task.shortId} is queued again (${res.task.status}).`);
      }),
    );

  const decide = (name: string, description: string, path: string, body?: (rest: string[]) => unknown) => {
    const run = async (id: string, words: string[], opts: { json?: boolean }) => {
      const res = await client().request<{ task: TaskView }>('POST', `/api/tasks/${enc(id)}/${path}`, body?.(words));
      if (opts.json) return printJson(res);
      out(`Task ${res.task.shortId} is ${res.task.status}.`);
    };
    const cmd = program
      .command(name)
      .description(description)
      .argument('<id>', 'task id or its first characters')
      .option('--json', 'print raw JSON');
    if (body)
      cmd
        .argument('[words...]', name === 'revise' ? 'what to change' : 'reason (optional)')
        .action(action((id: string, words: string[], opts: { json?: boolean }) => run(id, words, opts)));
    else cmd.action(action((id: string, opts: { json?: boolean }) => run(id, [], opts)));
  };
  decide('duplicate', 'submit the same request again as a new task', 'duplicate');
  decide('approve', 'approve a task awaiting review', 'approve');
  decide('reject', 'reject a task awaiting review', 'reject', (w) => (w.length ? { reason: w.join(' ') } : undefined));
  decide('revise', 'send a task awaiting review back to planning with feedback', 'revise', (w) => ({
    feedback: w.join(' '),
  }));

  registerAdminCommands(program);
}

/** Admin commands: dead letters, workers, queues and priorities. */
function registerAdminCommands(program: Command): void {
  program
    .command('priority')
    .description("change an active task's priority (admins)")
    .argument('<id>', 'task id or its first characters')
    .argument('<priority>', 'urgent, normal or low')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, priority: string, opts: { json?: boolean }) => {
        const res = await client().request<{ taskId: string; requeued: number }>(
          'POST',
          `/api/admin/tasks/${enc(id)}/priority`,
          { priority },
        );
        if (opts.json) return printJson(res);
        out(`Task ${res.taskId.slice(0, 8)} is now ${priority} (${res.requeued} queued job(s) re-prioritised).`);
      }),
    );

  const failed = program.command('failed').description('dead-lettered work (admins)');
  failed
    .command('list')
    .description('open dead letters, newest first')
    .option('-c, --capability <capability>', 'only this capability')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { capability?: string; json?: boolean }) => {
        const q = opts.capability ? `?${new URLSearchParams({ capability: opts.capability })}` : '';
        const res = await client().request<{ failed: any[] }>('GET', `/api/admin/failed${q}`);
        if (opts.json) return printJson(res);
        if (res.failed.length === 0) return out('No failed work.');
        out(
          table(
            ['TASK', 'STEP', 'CAPABILITY', 'ATTEMPTS', 'USER', 'FAILED', 'ERROR'],
            res.failed.map((f) => [
              f.taskShortId,
              f.subtaskKey,
              f.capability,
              String(f.attempts),
              f.taskUser,
              ago(f.createdAt),
              truncate(f.error, 60),
            ]),
          ),
        );
      }),
    );
  failed
    .command('reprocess')
    .description('run a dead-lettered task again (optionally with a new input for the failed step)')
    .argument('<id>', 'task, subtask or dead-letter id (or a prefix)')
    .option('--input <json>', 'replacement input of the failed step, as JSON')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { input?: string; json?: boolean }) => {
        let body: Record<string, unknown> = {};
        if (opts.input !== undefined) {
          try {
            body = { input: JSON.parse(opts.input) };
          } catch (e) {
            throw new CliError(`--input is not valid JSON: ${(e as Error).message}`);
          }
        }
        const res = await client().request<{ taskId: string; subtasks: number }>(
          'POST',
          `/api/admin/failed/${enc(id)}/reprocess`,
          body,
        );
        if (opts.json) return printJson(res);
        out(`Task ${res.taskId.slice(0, 8)} is running again (${res.subtasks} step(s) requeued).`);
      }),
    );
  failed
    .command('reprocess-all')
    .description('run every dead-lettered task again')
    .option('-c, --capability <capability>', 'only this capability')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { capability?: string; json?: boolean }) => {
        const res = await client().request<{ tasks: string[]; errors: string[] }>(
          'POST',
          '/api/admin/failed/reprocess-all',
          opts.capability ? { capability: opts.capability } : {},
        );
        if (opts.json) return printJson(res);
        out(
          `Reprocessing ${res.tasks.length} task(s)${res.tasks.length ? `: ${res.tasks.map((t) => t.slice(0, 8)).join(', ')}` : ''}.`,
        );
        for (const e of res.errors) err(`could not reprocess ${e}`);
        if (res.errors.length) process.exitCode = 1;
      }),
    );
  failed
    .command('purge')
    .description('close a dead letter without running it again')
    .argument('<id>', 'task, subtask or dead-letter id (or a prefix)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const res = await client().request<{ taskId: string }>('POST', `/api/admin/failed/${enc(id)}/purge`);
        if (opts.json) return printJson(res);
        out(`Dead letter of task ${res.taskId.slice(0, 8)} purged.`);
      }),
    );

  program
    .command('workers')
    .description('live workers (admins)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const api = client();
        const [res, rates] = await Promise.all([
          api.request<{ workers: any[] }>('GET', '/api/admin/workers'),
          // Success over the hub's sliding window; a hub without it (older version) just shows no column values.
          api
            .request<{ windowMinutes: number; capabilities: Record<string, any>; workers: Record<string, any> }>(
              'GET',
              '/api/admin/success-rates',
            )
            .catch(() => null),
        ]);
        if (opts.json) return printJson(rates ? { ...res, successRates: rates } : res);
        if (res.workers.length === 0) return out('No live workers.');
        const success = (id: string) => {
          const s = rates?.workers[id];
          return s && s.rate !== null ? `${Math.round(s.rate * 100)}% of ${s.ok + s.failed}` : '-';
        };
        out(
          table(
            [
              'ID',
              'HOST',
              'STATE',
              'RUNNING',
              'PATTERNS',
              `SUCCESS ${rates?.windowMinutes ?? '?'}m`,
              'VERSION',
              'SEEN',
            ],
            res.workers.map((w) => [
              w.id,
              `${w.host}:${w.pid}`,
              w.state,
              `${w.running}/${w.concurrency}`,
              w.patterns.join(','),
              success(w.id),
              w.version,
              ago(new Date(w.seenAt).toISOString()),
            ]),
          ),
        );
        const caps = Object.entries(rates?.capabilities ?? {}).filter(([, c]) => c.rate !== null);
        if (caps.length)
          out(
            `\n${table(
              ['CAPABILITY', `SUCCESS ${rates!.windowMinutes}m`, 'OK', 'FAILED'],
              caps.sort().map(([name, c]) => [name, `${Math.round(c.rate * 100)}%`, String(c.ok), String(c.failed)]),
            )}`,
          );
      }),
    );

  program
    .command('queues')
    .description('job counts of every capability queue (admins)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const res = await client().request<{ queues: any[] }>('GET', '/api/admin/queues');
        if (opts.json) return printJson(res);
        if (res.queues.length === 0) return out('No queues yet.');
        out(
          table(
            ['CAPABILITY', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'COMPLETED'],
            res.queues.map((q) => [
              q.capability,
              String(q.waiting + q.prioritized),
              String(q.active),
              String(q.delayed),
              String(q.failed),
              String(q.completed),
            ]),
          ),
        );
      }),
    );
}
