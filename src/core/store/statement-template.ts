// Hot statements compiled once per shape. Kysely builds a statement's tree and compiles it to text on every call;
// for the submit and result paths' statements (dozens of column references, the outbox rules' VALUES list) that was
// about a quarter of what the hub allocated per task at 100 tasks/s. A template is built once per shape with
// placeholders for its values; a call binds the values to the placeholders' parameters and reuses the text.
import { CompiledQuery, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.ts';

/** A value's place in a template's parameters: replaced by the call's value of `key`. */
class Slot {
  constructor(readonly key: string) {}
}

/** Every property read gives its placeholder, so a builder writes `${v.users}` where the value goes. */
const slots = new Proxy({}, { get: (_target, key) => new Slot(String(key)) });

/**
 * A statement compiled once per `shape` (whatever changes its text: column lists, optional parts). `build` must only
 * place the values (`${v.name}`), never read them: they are placeholders while it runs. Returns a function that
 * binds a call's values and gives the statement to execute (or to send in a statement group).
 */
export function statementTemplate<V extends object, R = unknown>(
  build: (v: V, shape: string) => RawBuilder<R>,
): (db: Kysely<Database>, values: V, shape?: string) => CompiledQuery<R> {
  const compiled = new Map<string, { sql: string; parameters: readonly unknown[] }>();
  return (db, values, shape = '') => {
    let t = compiled.get(shape);
    if (!t) {
      t = build(slots as V, shape).compile(db);
      compiled.set(shape, t);
    }
    const parameters = t.parameters.map((p) => (p instanceof Slot ? (values as Record<string, unknown>)[p.key] : p));
    return CompiledQuery.raw(t.sql, parameters) as CompiledQuery<R>;
  };
}
