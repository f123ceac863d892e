// Several statements in one round trip. Postgres runs a simple query that holds several statements as one
// transaction (all or nothing, without BEGIN and COMMIT round trips), and under READ COMMITTED each statement
// takes a fresh snapshot, so a later statement sees what committed while an earlier one waited for a lock.
// The simple protocol takes no parameters: values are inlined as literals, serialised and quoted by pg itself.
// Only the `pg` driver sends such a query; PGlite runs one statement per query (callers keep a transaction path).
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
  const text = `${GROUP_MARK}\n${statements.map(inlineParameters).join(';\n')}`;
  const { rows } = await db.executeQuery<{ rows: unknown[] }>(CompiledQuery.raw(text));
  return rows.map((r) => r.rows);
}

/** pg's answer to a group (one result per statement) as one result whose rows are the statements' results. */
export function groupResult(results: unknown): { command: string; rows: { rows: unknown[] }[] } {
  const list = (Array.isArray(results) ? results : [results]) as { rows: unknown[] }[];
  return { command: 'GROUP', rows: list.map((r) => ({ rows: r.rows })) };
}

// Quoted literals, quoted identifiers and comments are kept as they are; `$n` outside them is a parameter.
const TOKENS = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|\$(\d+)/g;

/** The statement's text with each `$n` replaced by its value as a quoted literal (NULL for null). */
export function inlineParameters(query: CompiledQuery): string {
  return query.sql.replace(TOKENS, (token, n: string | undefined) => {
    if (n === undefined) return token;
    if (Number(n) > query.parameters.length) throw new RangeError(`no value for parameter $${n}`);
    const value = prepareValue(query.parameters[Number(n) - 1]);
    if (value === null) return 'null';
    if (typeof value !== 'string') throw new TypeError('binary values cannot be inlined in a statement group');
    return quoteLiteral(value);
  });
}

/**
 * A string as a literal, as pg's escapeLiteral writes it (quotes doubled; with a backslash, an E'' string with
 * backslashes doubled), without its character-by-character concatenation (the submit path quotes kilobytes).
 */
function quoteLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? ` E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}
