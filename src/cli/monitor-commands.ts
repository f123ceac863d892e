// `switchboard monitors list|add|run|pause|resume|delete`, over the hub's HTTP API.
import type { Command } from 'commander';
import { ApiClient, clientSettings } from './api-client.ts';
import { table, truncate } from './format.ts';
import { action } from './run-action.ts';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));
const client = () => new ApiClient(clientSettings());
const enc = encodeURIComponent;

/** A monitor as the API returns it (the fields the CLI shows). */
export interface MonitorView {
  id: string;
  shortId: string;
  userId: string;
  url: string;
  status: string;
  description: string;
  timezone: string;
  nextRunAt: string | null;
  lastCheckedAt: string | null;
  checks: number;
  changes: number;
  pausedReason: string | null;
}

/** The rows of `monitors list`. */
export function monitorTable(list: MonitorView[], withUser = false): string {
  if (list.length === 0) return 'No monitors.';
  return table(
    ['ID', 'STATUS', ...(withUser ? ['USER'] : []), 'WHEN', 'CHECKS', 'CHANGES', 'LAST CHECK', 'URL'],
    list.map((m) => [
      m.shortId,
      m.status,
      ...(withUser ? [m.userId] : []),
      truncate(`${m.description} (${m.timezone})`, 40),
      String(m.checks),
      String(m.changes),
      m.lastCheckedAt ? m.lastCheckedAt.replace('T', ' ').slice(0, 16) : '-',
      truncate(m.url, 60),
    ]),
  );
}

/** Adds the monitor commands to the program. */
export function registerMonitorCommands(program: Command): void {
  const monitors = program.command('monitors').description('watch web pages and hear only when they change');

  monitors
    .command('list')
    .description("your monitors (--all: everyone's, admins only)")
    .option('-a, --all', "every user's monitors (admins)")
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { all?: boolean; json?: boolean }) => {
        const res = await client().request<{ monitors: MonitorView[] }>(
          'GET',
          `/api/monitors${opts.all ? '?all=true' : ''}`,
        );
        if (opts.json) return printJson(res);
        out(monitorTable(res.monitors, opts.all));
        for (const m of res.monitors.filter((x) => x.status === 'paused' && x.pausedReason))
          out(`${m.shortId} paused: ${m.pausedReason}`);
      }),
    );

  monitors
    .command('add')
    .description(
      'monitor a page: add https://example.org/page "every day at 9:00" [--selector "#main"] [--ignore "Updated: .*"]',
    )
    .argument('<url>', 'the http(s) page to watch')
    .argument('<when...>', 'how often to check ("every day at 9:00", "every 6 hours", a cron expression)')
    .option('-s, --selector <css>', 'watch only the elements matching this CSS selector')
    .option('-i, --ignore <regex...>', 'regular expressions blanked before comparing (dates, counters)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (url: string, words: string[], opts: { selector?: string; ignore?: string[]; json?: boolean }) => {
        const res = await client().request<{ monitor: MonitorView }>('POST', '/api/monitors', {
          url,
          when: words.join(' '),
          ...(opts.selector ? { selector: opts.selector } : {}),
          ...(opts.ignore?.length ? { ignore: opts.ignore } : {}),
        });
        if (opts.json) return printJson(res);
        out(
          `Monitor ${res.monitor.shortId} watches ${res.monitor.url} ${res.monitor.description} (${res.monitor.timezone}).`,
        );
        out('The first check takes a baseline; after that a message arrives only when the page changes.');
      }),
    );

  monitors
    .command('run')
    .description('check a monitored page now')
    .argument('<id>', 'monitor id or its first characters (4+)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (id: string, opts: { json?: boolean }) => {
        const res = await client().request<{ taskId: string }>('POST', `/api/monitors/${enc(id)}/run`);
        if (opts.json) return printJson(res);
        out(`Checking now as task ${res.taskId.slice(0, 8)}.`);
      }),
    );

  for (const name of ['pause', 'resume', 'delete'] as const) {
    monitors
      .command(name)
      .description(`${name} a monitor`)
      .argument('<id>', 'monitor id or its first characters (4+)')
      .option('--json', 'print raw JSON')
      .action(
        action(async (id: string, opts: { json?: boolean }) => {
          const res = await client().request<{ monitor: MonitorView }>(
            name === 'delete' ? 'DELETE' : 'POST',
            `/api/monitors/${enc(id)}${name === 'delete' ? '' : `/${name}`}`,
          );
          if (opts.json) return printJson(res);
          out(`Monitor ${res.monitor.shortId} is now ${res.monitor.status}.`);
        }),
      );
  }
}
