// Counts the SQL statements a pg Pool sends, by kind and by statement text (for the cost scenario).
import type pg from 'pg';
import { GROUP_MARK } from '../../src/core/store/statement-group.ts';

/** Per-kind statement counts since the last reset. */
export interface SqlCounts {
  total: number;
  /** BEGIN / COMMIT / ROLLBACK. */
  transactionControl: number;
  /** Everything else: the statements the cost target counts. */
  statements: number;
  byKind: Record<string, number>;
}

/** Wraps each new pool client's `query` and tallies what it sends. */
export class SqlCounter {
  private counts = new Map<string, number>();
  private texts = new Map<string, number>();
  /** Record statement texts too (for the breakdown); off by default to keep the hot path cheap. */
  recordTexts = false;

  /** Instruments one client (call from the pool's `connect` event). */
  wrap(client: pg.PoolClient): void {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text =
        typeof first === 'string'
          ? first
          : typeof (first as { text?: unknown })?.text === 'string'
            ? (first as { text: string }).text
            : '';
      // A statement group counts as its statements.
      for (const statement of text.startsWith(GROUP_MARK) ? text.split(';\n') : [text])
        this.record(statement.replace(GROUP_MARK, ''));
      return original(...args);
    };
  }

  /** Tallies one statement. */
  record(text: string): void {
    const kind = (/^\s*(\w+)/.exec(text)?.[1] ?? 'other').toLowerCase();
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (this.recordTexts) {
      const key = text.replace(/\s+/g, ' ').slice(0, 140);
      this.texts.set(key, (this.texts.get(key) ?? 0) + 1);
    }
  }

  /** Counts since the last reset. */
  snapshot(): SqlCounts {
    const byKind = Object.fromEntries(this.counts);
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    const transactionControl = ['begin', 'commit', 'rollback'].reduce((a, k) => a + (this.counts.get(k) ?? 0), 0);
    return { total, transactionControl, statements: total - transactionControl, byKind };
  }

  /** Statement texts by count, most frequent first. */
  topTexts(limit = 20): Array<[string, number]> {
    return [...this.texts].sort((a, b) => b[1] - a[1]).slice(0, limit);
  }

  reset(): void {
    this.counts = new Map();
    this.texts = new Map();
  }
}
