// Group commit for the conductor: results that arrive while a batch is being applied wait and go together in the
// next one. One flush is in flight at a time, so an idle hub applies a lone result at once (a batch of one) and a
// busy one applies whatever arrived during the previous transaction (up to `max`) in one transaction.

/** What a flush returns per item, in order: its value, or why it failed (only that item's caller sees the error). */
export type ItemResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Collects items and hands them to `apply` in batches, one batch at a time. */
export class ResultBatcher<T, R> {
  private pending: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  private flushing = false;
  /** Batches applied so far and the items in them (for metrics and tests). */
  readonly stats = { batches: 0, items: 0, largest: 0 };

  constructor(
    private readonly apply: (items: T[]) => Promise<ItemResult<R>[]>,
    private readonly max: number,
  ) {}

  /** Queues an item; resolves once the batch it went in has been applied. */
  push(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.flushing) return;
      this.flushing = true;
      // Items pushed in the same turn of the event loop (BullMQ hands over several fetched jobs at once) go together.
      setImmediate(() => void this.flush());
    });
  }

  /** Items waiting for a batch (not counting the batch in flight). */
  get waiting(): number {
    return this.pending.length;
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.max);
      this.stats.batches++;
      this.stats.items += batch.length;
      this.stats.largest = Math.max(this.stats.largest, batch.length);
      let out: ItemResult<R>[];
      try {
        out = await this.apply(batch.map((b) => b.item));
      } catch (error) {
        out = batch.map(() => ({ ok: false, error }));
      }
      batch.forEach((b, i) => {
        const r = out[i] ?? { ok: false, error: new Error('batch returned no result for this item') };
        if (r.ok) b.resolve(r.value);
        else b.reject(r.error);
      });
    }
    this.flushing = false;
  }
}
