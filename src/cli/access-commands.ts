// `switchboard admin access | pair <code> | unpair <user>`: who may use the hub from chat (admins).
import type { Command } from 'commander';
import type { z } from 'zod';
import type { accessOverviewJson } from '../frontends/web/access-routes.ts';
import { ApiClient, clientSettings } from './api-client.ts';
import { ago, table } from './format.ts';
import { action } from './run-action.ts';

/** GET /api/admin/access as the CLI reads it: the type of the route's own zod schema. */
type AccessView = z.infer<typeof accessOverviewJson>;

const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const client = () => new ApiClient(clientSettings());

/** Adds the `admin` command group: access overview, pairing approval and revocation. */
export function registerAccessCommands(program: Command): void {
  const admin = program.command('admin').description('who may use the hub from chat: access, pair, unpair (admins)');

  admin
    .command('access')
    .description('the access policy, granted users and pending pairing codes')
    .option('--json', 'print raw JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const a = await client().request<AccessView>('GET', '/api/admin/access');
        if (opts.json) return print(JSON.stringify(a, null, 2));
        print(
          a.open
            ? 'Open: anyone may use the hub (HUB_ALLOWED_USERS is empty).'
            : `Allowed: admins${a.patterns.map((p) => `, ${p}`).join('')}.`,
        );
        print(`Pairing: ${a.pairing ? 'on (unknown users get a code to send an admin)' : 'off (HUB_PAIRING=false)'}.`);
        if (a.grants.length) {
          print('\nGranted by pairing:');
          print(
            table(
              ['USER', 'BY', 'WHEN'],
              a.grants.map((g) => [g.userId, g.grantedBy, ago(g.at)]),
            ),
          );
        }
        if (a.pending.length) {
          print('\nWaiting for approval:');
          const rows = a.pending.map((p) => [p.code, p.userId, ago(p.at), p.expiresAt ?? '']);
          print(table(['CODE', 'USER', 'ASKED', 'EXPIRES'], rows));
          print('Approve with: npx switchboard admin pair <code>');
        } else if (a.pairing) print('\nNo pairing codes waiting.');
      }),
    );

  admin
    .command('pair')
    .description('approve the pairing code a chat user got; that user may use the hub from then on')
    .argument('<code>', 'the code, e.g. K7Q2M9XD (any case)')
    .option('--json', 'print raw JSON')
    .action(
      action(async (code: string, opts: { json?: boolean }) => {
        const res = await client().request<{ userId: string }>('POST', '/api/admin/access/pair', { code });
        if (opts.json) return print(JSON.stringify(res, null, 2));
        print(`Paired: ${res.userId} may use the hub now.`);
      }),
    );

  admin
    .command('unpair')
    .alias('revoke')
    .description("revoke a user's pairing grant (as `admin unpair` in chat)")
    .argument('<user>', 'platform:id, e.g. telegram:42')
    .option('--json', 'print raw JSON')
    .action(
      action(async (user: string, opts: { json?: boolean }) => {
        const res = await client().request<{ userId: string; stillListed: boolean }>(
          'DELETE',
          `/api/admin/access/${encodeURIComponent(user)}`,
        );
        if (opts.json) return print(JSON.stringify(res, null, 2));
        print(
          res.stillListed
            ? `Revoked the grant of ${res.userId}, but HUB_ALLOWED_USERS (or HUB_ADMINS) still lets them in.`
            : `Revoked: ${res.userId} may no longer use the hub.`,
        );
      }),
    );
}
