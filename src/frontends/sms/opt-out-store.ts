// Where the numbers that said STOP are kept: Postgres, so a Redis flush or restart forgets none of them.
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from '../../core/store/schema.ts';
import type { OptOutStore } from './opt-out.ts';

/** Opt-outs as rows of `sms_opt_outs` (one per number); every hub process reads the same table. */
export class PostgresOptOutStore implements OptOutStore {
  constructor(private readonly db: Kysely<Database>) {}

  async isOptedOut(number: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('sms_opt_outs')
      .select('number')
      .where('number', '=', number)
      .executeTakeFirst();
    return row !== undefined;
  }

  async optOut(number: string): Promise<void> {
    await this.db
      .insertInto('sms_opt_outs')
      .values({ number })
      .onConflict((oc) => oc.column('number').doNothing())
      .execute();
  }

  async optIn(number: string): Promise<void> {
    await this.db.deleteFrom('sms_opt_outs').where('number', '=', number).execute();
  }
}

/**
 * Moves the opt-outs an older hub kept in Redis (the set `<prefix>:hub:sms:opt-out`) into Postgres, then drops the
 * set; returns how many numbers it carried over. A no-op once done.
 */
export async function importRedisOptOuts(redis: Redis, prefix: string, store: PostgresOptOutStore): Promise<number> {
  const key = `${prefix}:hub:sms:opt-out`;
  const numbers = await redis.smembers(key);
  for (const number of numbers) await store.optOut(number);
  if (numbers.length) await redis.del(key);
  return numbers.length;
}
