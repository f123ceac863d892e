// Rows read back as JSON (row_to_json / json_agg: cheaper for Postgres to build than jsonb, which it would
// convert to text again), turned back into what pg returns (`*_at` columns as Dates).

/** A row read back as JSON, with its timestamp columns (`*_at`) turned back into Dates. */
export function revive<T>(row: unknown): T {
  const r = row as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) if (k.endsWith('_at') && typeof v === 'string') r[k] = new Date(v);
  return r as T;
}

/** A JSON array of rows, each revived. */
export const rows = <T>(list: unknown): T[] => ((list as unknown[] | null) ?? []).map((r) => revive<T>(r));
