// Several statements in one round trip. Postgres runs a simple query that holds several statements as one
// transaction (all or nothing, without BEGIN and COMMIT round trips), and under READ COMMITTED each statement
// takes a fresh snapshot, so a later statement sees what committed while an earlier one waited for a lock.
// The simple protocol takes no parameters: values are inlined as literals, serialised and quoted by pg itself.
// Only the `pg` driver sends such a query; PGlite runs one statement per query (callers keep a transaction path).
// A member whose text starts with PREPARED is parsed and planned once per connection: the group sends
// `execute name(literals)`, and the connection's first group with it also sends `prepare name as <text>` first.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

// pg's own conversion of a parameter to its text form (Dates, arrays, JSON), as it sends parameters.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue(value: unknown): string | Buffer | null;
};

/** The first line of a group's text; the client wrapper (prepared.ts) answers it with every statement's rows. */
export const GROUP_MARK = '/* group */';

const capable = new WeakSet<object>();

/** Marks a database (on the `pg` driver) as able to run statement groups. */
export function allowStatementGroups(db: Kysely<Database>): void {
  capable.add(db);
}

/** Whether `db` runs statement groups (Postgres through `pg`; not PGlite). */
export function statementGroupsAllowed(db: Kysely<Database>): boolean {
  return capable.has(db);
}

/**
 * Runs `statements` as one transaction in one round trip on `db` (a pool or one connection of a database that
 * allows groups); the rows of each statement, in order. An error rolls all of them back.
 */
export async function runStatementGroup(db: Kysely<Database>, statements: CompiledQuery[]): Promise<unknown[][]> {
  const names: string[] = [];
  const members = statements.map((q) => {
    if (!q.sql.startsWith(PREPARED_MARK)) return inlineParameters(q);
    const name = nameOf(q.sql);
    names.push(name);
    return q.parameters.length ? `execute ${name}(${q.parameters.map(literal).join(', ')})` : `execute ${name}`;
  });
  const text = `${GROUP_MARK}${names.length ? ` /* ${names.join(' ')} */` : ''}\n${members.join(';\n')}`;
  const { rows } = await db.executeQuery<{ rows: unknown[] }>(CompiledQuery.raw(text));
  return rows.map((r) => r.rows);
}

/** The text that starts a statement prepared by name (see prepared.ts). */
export const PREPARED_MARK = '/* prepared */';

/** Texts of the group members prepared by name, by name, and their names by text (one per statement in the code). */
const preparedTexts = new Map<string, string>();
const nameByText = new Map<string, string>();

function nameOf(text: string): string {
  let name = nameByText.get(text);
  if (!name) {
    name = `sbg_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    nameByText.set(text, name);
    preparedTexts.set(name, text);
  }
  return name;
}

/** The names each connection has prepared for groups. */
const preparedOn = new WeakMap<object, Set<string>>();

type Query = (text: string) => Promise<unknown>;

/**
 * Sends a group's text on one connection (`query` is its client's own query function), prepared members it lacks
 * prepared first, and answers with one result whose rows are the statements' results. After an error, which
 * preparations took effect is read back (they outlive the failed transaction); a member whose plan went stale
 * (a migration changed its result type) is prepared anew next time.
 */
export async function sendGroup(
  client: object,
  query: Query,
  text: string,
): Promise<{ command: string; rows: unknown[] }> {
  const have = preparedOn.get(client) ?? new Set<string>();
  preparedOn.set(client, have);
  const names = [...new Set(text.slice(0, text.indexOf('\n')).match(/sbg_\w+/g))];
  const missing = names.filter((n) => !have.has(n));
  // Prepared members run their generic plan: Postgres would otherwise keep planning a statement whose custom plans
  // look cheaper (admission's, for a few users), which is what preparing it was to avoid.
  const prefix = [
    ...missing.map((n) => `prepare ${n} as ${preparedTexts.get(n)};\n`),
    ...(names.length ? ['set local plan_cache_mode = force_generic_plan;\n'] : []),
  ];
  try {
    const results = await query(prefix.join('') + text);
    for (const n of missing) have.add(n);
    const list = (Array.isArray(results) ? results : [results]) as { rows: unknown[] }[];
    return { command: 'GROUP', rows: list.slice(prefix.length).map((r) => ({ rows: r.rows })) };
  } catch (err) {
    await resync(query, have, (err as { code?: unknown } | null)?.code === '0A000');
    throw err;
  }
}

/** Reads back which group statements the connection has prepared; `dropAll` deallocates them instead. */
async function resync(query: Query, have: Set<string>, dropAll: boolean): Promise<void> {
  try {
    const found = (await query(`select name from pg_prepared_statements where name like 'sbg\\_%'`)) as {
      rows: { name: string }[];
    };
    have.clear();
    for (const { name } of found.rows) {
      if (dropAll) await query(`deallocate ${name}`);
      else have.add(name);
    }
  } catch {
    have.clear(); // a broken connection is not used again
  }
}

// Quoted literals, quoted identifiers and comments are kept as they are; `$n` outside them is a parameter.
const TOKENS = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$(\d+)/g;

/** The statement's text with each `$n` replaced by its value as a quoted literal (NULL for null). */
export function inlineParameters(query: CompiledQuery): string {
  return query.sql.replace(TOKENS, (token, n: string | undefined) => {
    if (n === undefined) return token;
    if (Number(n) > query.parameters.length) throw new RangeError(`no value for parameter $${n}`);
    return literal(query.parameters[Number(n) - 1]);
  });
}

/** A value as an SQL literal, serialised as pg sends it as a parameter (NULL for null). */
function literal(parameter: unknown): string {
  const value = prepareValue(parameter);
  if (value === null) return 'null';
  if (typeof value !== 'string') throw new TypeError('binary values cannot be inlined in a statement group');
  return quoteLiteral(value);
}

/**
 * A string as a literal, as pg's escapeLiteral writes it (quotes doubled; with a backslash, an E'' string with
 * backslashes doubled), without its character-by-character concatenation (the submit path quotes kilobytes).
 */
function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}
