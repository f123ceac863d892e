// Statement groups: several statements in one round trip, all or nothing, later ones seeing earlier ones; values
// inlined as literals come back exactly as given (quotes, backslashes, semicolons, `$1` in the text); members marked
// PREPARED are prepared once per connection, also after a failed group and after a migration changed their rows.
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { escapeLiteral } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/core/store/create-database.ts';
import { PREPARED } from '../src/core/store/prepared.ts';
import type { Database } from '../src/core/store/schema.ts';
import { inlineParameters, runStatementGroup, statementGroupsAllowed } from '../src/core/store/statement-group.ts';
import { createTestEnv, databaseUrl, type TestEnv } from './helpers/test-env.ts';

const q = (text: string, ...parameters: unknown[]) => CompiledQuery.raw(text, parameters);

describe('inlineParameters', () => {
  it('replaces $n outside quoted text and comments, quoting each value', () => {
    const text = `select $1, '$1 stays', "col$2", $2 -- $1 stays\n /* $2 stays */ , $10`;
    const values = ["it's", null, 3, 4, 5, 6, 7, 8, 9, 'ten'];
    expect(inlineParameters(q(text, ...values))).toBe(
      `select 'it''s', '$1 stays', "col$2", null -- $1 stays\n /* $2 stays */ , 'ten'`,
    );
  });

  it('writes arrays, dates and objects as pg sends them, backslashes escaped', () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    const out = inlineParameters(q('select $1, $2, $3, $4', ['a', 'b c'], at, { k: 'v' }, 'back\\slash'));
    expect(out).toMatch(/^select '\{"a","b c"\}', '2030-01-0\d/);
    expect(out).toContain(`'{"k":"v"}'`);
    expect(out).toContain(` E'back\\\\slash'`);
  });

  it("quotes strings exactly as pg's escapeLiteral does", () => {
    for (const text of ['plain', "it's", 'back\\slash', "both ' and \\", "'';--\n$1", '', 'ü\u0000'.slice(0, 1)])
      expect(inlineParameters(q('select $1', text))).toBe(`select ${escapeLiteral(text)}`);
  });

  it('refuses binary values and parameters without a value', () => {
    expect(() => inlineParameters(q('select $1', Buffer.from('x')))).toThrow(/binary/);
    expect(() => inlineParameters(q('select $2', 1))).toThrow(/no value for parameter \$2/);
  });
});

describe.skipIf(!databaseUrl())('runStatementGroup on Postgres', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv();
    await sql`create table group_probe (id int primary key, body text, tags text[], at timestamptz, doc jsonb)`.execute(
      env.ctx.db,
    );
  });

  afterAll(async () => {
    await env?.close();
  });

  it('is allowed on Postgres and not on PGlite', async () => {
    expect(statementGroupsAllowed(env.ctx.db)).toBe(true);
    const lite = await createDatabase({ memory: true });
    try {
      expect(statementGroupsAllowed(lite.db)).toBe(false);
    } finally {
      await lite.close();
    }
  });

  it('runs the statements in order in one transaction: values round-trip and a later statement sees an earlier', async () => {
    const body = `it's a \\ back'slash; '); drop table group_probe; --\n$1 "quoted" ü`;
    const tags = ['a b', 'c"d', "e'f", 'g\\h', ''];
    const at = new Date('2030-01-02T03:04:05.678Z');
    const doc = { say: "it's \\ fine", n: 1 };
    const [inserted, counted] = await runStatementGroup(env.ctx.db, [
      q(
        'insert into group_probe (id, body, tags, at, doc) values ($1, $2, $3, $4, $5) returning *',
        1,
        body,
        tags,
        at,
        JSON.stringify(doc),
      ),
      q('select count(*)::int as n from group_probe where id = $1', 1),
    ]);
    expect(inserted).toEqual([{ id: 1, body, tags, at, doc }]);
    expect(counted).toEqual([{ n: 1 }]);
  });

  it('rolls every statement back when one fails', async () => {
    await expect(
      runStatementGroup(env.ctx.db, [
        q('insert into group_probe (id, body) values ($1, $2)', 2, 'kept?'),
        q('insert into group_probe (id, body) values ($1, $2)', 1, 'duplicate key'),
      ]),
    ).rejects.toMatchObject({ code: '23505' });
    const rows = await env.ctx.db
      .selectFrom('group_probe' as never)
      .select(sql<number>`count(*)::int`.as('n'))
      .where(sql.ref('id'), '=', 2)
      .executeTakeFirstOrThrow();
    expect(rows).toEqual({ n: 0 });
  });

  describe('prepared members', () => {
    const insert = (id: number, body: string) =>
      sql`${PREPARED} insert into group_probe (id, body) values (${id}::int, ${body}::text) returning id, body`;
    const read = (id: number) => sql`${PREPARED} select * from group_probe where id = ${id}::int`;
    /** The group statements this connection has prepared. */
    const preparedHere = async (conn: Kysely<Database>) =>
      (
        await sql<{ name: string }>`select name from pg_prepared_statements where name like 'sbg%'`.execute(conn)
      ).rows.map((r) => r.name);

    it('are prepared once per connection and run with their values inlined', async () => {
      await env.ctx.db.connection().execute(async (conn) => {
        const [a, b] = await runStatementGroup(conn, [
          insert(10, "it's").compile(conn),
          insert(11, 'two').compile(conn),
        ]);
        expect([a, b]).toEqual([[{ id: 10, body: "it's" }], [{ id: 11, body: 'two' }]]);
        expect(await preparedHere(conn)).toHaveLength(1);
        // A second group on the connection executes the prepared statement (preparing it again would fail).
        const [c] = await runStatementGroup(conn, [insert(12, 'three').compile(conn)]);
        expect(c).toEqual([{ id: 12, body: 'three' }]);
        expect(await preparedHere(conn)).toHaveLength(1);
      });
    });

    it('run their generic plan from the first call (no custom plan per call)', async () => {
      await env.ctx.db.connection().execute(async (conn) => {
        const count = sql`${PREPARED} select count(*)::int as n from group_probe where id >= ${0}::int and body <> ${'x'}`;
        for (let i = 0; i < 6; i++) await runStatementGroup(conn, [count.compile(conn)]);
        const { rows } = await sql<{ generic_plans: string; custom_plans: string }>`select generic_plans, custom_plans
          from pg_prepared_statements where statement like '%body <> $2%'`.execute(conn);
        expect(rows.map((r) => [Number(r.generic_plans), Number(r.custom_plans)])).toEqual([[6, 0]]);
      });
    });

    it('are known to be prepared after a group that failed after preparing them', async () => {
      await env.ctx.db.connection().execute(async (conn) => {
        const probe = sql`${PREPARED} select count(*)::int as n from group_probe where id >= ${20}::int`;
        const before = await preparedHere(conn);
        await expect(
          runStatementGroup(conn, [probe.compile(conn), insert(1, 'duplicate key').compile(conn)]),
        ).rejects.toMatchObject({ code: '23505' });
        // Both were prepared before the insert failed; preparing either again would fail the next group.
        expect((await preparedHere(conn)).length).toBeGreaterThan(before.length);
        const [counted] = await runStatementGroup(conn, [probe.compile(conn)]);
        expect(counted).toEqual([{ n: 0 }]);
      });
    });

    it('are prepared anew when a migration changed the rows they return', async () => {
      await env.ctx.db.connection().execute(async (conn) => {
        expect((await runStatementGroup(conn, [read(10).compile(conn)]))[0]).toEqual([
          { id: 10, body: "it's", tags: null, at: null, doc: null },
        ]);
        await sql`alter table group_probe add column extra int`.execute(env.ctx.db);
        // Postgres refuses the old plan once ("cached plan must not change result type"); the next group prepares it again.
        await expect(runStatementGroup(conn, [read(10).compile(conn)])).rejects.toMatchObject({ code: '0A000' });
        expect((await runStatementGroup(conn, [read(10).compile(conn)]))[0]).toEqual([
          { id: 10, body: "it's", tags: null, at: null, doc: null, extra: null },
        ]);
      });
    });
  });
});
