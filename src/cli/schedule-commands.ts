// `switchboard schedules list|add|pause|resume|delete` and `switchboard timezone`, over the hub's HTTP API.
import type { Command } from 'commander';
import type { ScheduleJson } from '../frontends/web/serialize.ts';
import { ApiClient, clientSettings } from './api-client.ts';
import { table, truncate } from './format.ts';
import { action } from './run-action.ts';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));
const client = () => new ApiClient(clientSettings());
const enc = encodeURIComponent;

/** A schedule as the API returns it (the type of the route's own zod schema). */
export type ScheduleView = ScheduleJson;

/** An ISO time as "2030-01-01 09:00" in the schedule's time zone, or "-". */
function when(iso: string | null, zone: string): string {
  if (!iso) return '-';
  try {
    return new Intl.DateTimeFormat('sv-SE', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .format(new Date(iso))
      .replace(/:00$/, '');
  } catch {
    return iso;
  }
}

/** A schedule's description with its zone, once (one-shot descriptions already end with it). */
export function withZone(description: string, zone: string): string {
  return description.endsWith(`(${zone})`) ? description : `${description} (${zone})`;
}

/** The rows of `schedules list`. */
export function scheduleTable(list: ScheduleView[], withUser = false): string {
  if (list.length === 0) return 'No schedules.';
  const headers = ['ID', 'STATUS', ...(withUser ? ['USER'] : []), 'WHEN', 'NEXT RUN', 'LAST RUN', 'FAILS', 'REQUEST'];
  return table(
    headers,
    list.map((s) => [
      s.shortId,
      s.status,
      ...(withUser ? [s.userId] : []),
      truncate(withZone(s.description, s.timezone), 48),
      when(s.nextRunAt, s.timezone),
      when(s.lastRunAt, s.timezone),
      String(s.consecutiveFailures),
      truncate(s.text, 50),
    ]),
  );
}

/** Adds the schedule and time-zone commands to the program. */
export function registerScheduleCommands(program: Command): void {
  const schedules = program
    .command('schedules')
    .description('run requests later or repeatedly ("every day at 9:00 ...")');

  schedules
    .command('list')
    .description("your schedules, newest first (--all: everyone's, admins only)")
    .option('-a, --all', "every user's schedules (admins)")
    .option('--ended', 'include deleted and finished ones')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { all?: boolean; ended?: boolean; json?: boolean }) => {
        const q = new URLSearchParams();
        if (opts.all) q.set('all', 'true');
        if (opts.ended) q.set('ended', 'true');
        const res = await client().request<{ schedules: ScheduleView[] }>(
          'GET',
          `/api/schedules${q.size ? `?${q}` : ''}`,
        );
        if (opts.json) return printJson(res);
        out(scheduleTable(res.schedules, opts.all));
        for (const s of res.schedules.filter((x) => x.status === 'paused' && x.pausedReason))
          out(`${s.shortId} paused: ${s.pausedReason}`);
      }),
    );

  schedules
    .command('add')
    .description(
      'schedule a request: add "every day at 9:00" "summarise the news", or add "in 2 hours check the build"',
    )
    .argument(
      '<when>',
      'when to run ("in 2 hours", "tomorrow 9:00", "every weekday at 8:00", a cron expression), or the whole request',
    )
    .argument('[text...]', 'what to do each time')
    .option('--json', 'print raw JSON')
    .action(
      action(async (whenText: string, words: string[], opts: { json?: boolean }) => {
        const body = words.length ? { when: whenText, text: words.join(' ') } : { text: whenText };
        const res = await client().request<{ schedule: ScheduleView; nextRunAt: string | null }>(
          'POST',
          '/api/schedules',
          body,
        );
        if (opts.json) return printJson(res);
        out(
          `Schedule ${res.schedule.shortId} created: ${withZone(res.schedule.description, res.schedule.timezone)} — "${truncate(res.schedule.text, 80)}".`,
        );
        if (res.nextRunAt)
          out(
            `Next run: ${when(res.nextRunAt, res.schedule.timezone)} (${res.schedule.timezone}). Results arrive as tasks; see them with: npx switchboard tasks list`,
          );
      }),
    );

  for (const [name, verb] of [
    ['pause', 'paused'],
    ['resume', 'resumed'],
  ] as const) {
    schedules
      .command(name)
      .description(`${name} a schedule`)
      .argument('<id>', 'schedule id or its first characters (4+)')
      .option('--json', 'print raw JSON')
      .action(
        action(async (id: string, opts: { json?: boolean }) => {
          const res = await client().request<{ schedule: ScheduleView; changed: boolean }>(
            'POST',
            `/api/schedules/${enc(id)}/${name}`,
          );
          if (opts.json) return printJson(res);
          out(
            res.changed
              ? `Schedule ${res.schedule.shortId} ${verb}.`
              : `Schedule ${res.schedule.shortId} was already ${res.schedule.status}.`,
          );
          if (name === 'resume' && res.schedule.nextRunAt)
            out(`Next run: ${when(res.schedule.nextRunAt, res.schedule.timezone)} (${res.schedule.timezone}).`);
        }),
      );
  }

  schedules
    .command('delete')
    .description('delete a schedule (runs already started finish)')
    .argument('<id>', 'schedule id or its first characters (4+)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const res = await client().request<{ schedule: ScheduleView }>('DELETE', `/api/schedules/${enc(id)}`);
        if (opts.json) return printJson(res);
        out(`Schedule ${res.schedule.shortId} deleted.`);
      }),
    );

  program
    .command('timezone')
    .description('show or set your time zone for schedules (an IANA name such as Europe/Berlin)')
    .argument('[zone]', 'the new time zone; omit to show the current one')
    .option('--json', 'print raw JSON')
    .action(
      action(async (zone: string | undefined, opts: { json?: boolean }) => {
        const res =
          zone === undefined
            ? await client().request<{ timezone: string }>('GET', '/api/me/timezone')
            : await client().request<{ timezone: string }>('PUT', '/api/me/timezone', { timezone: zone });
        if (opts.json) return printJson(res);
        out(
          zone === undefined
            ? `Your time zone is ${res.timezone}.`
            : `Your time zone is now ${res.timezone}; new schedules use it.`,
        );
      }),
    );
}
