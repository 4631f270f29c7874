import { sql } from "kysely";
import type { Db, DbOrTx, Tx } from "../../db/connect.js";

/**
 * Journal balances per account × asset as of a reconcile cutoff (migration 0018): the incremental
 * reconcile reads an account as its checkpointed balance + the rows stamped at or after the checkpoint,
 * so its cost follows the window, not the account's history.
 *
 * Exact because a cutoff is taken as the earlier of now and the start of the oldest transaction in
 * flight (runs.ts): every row stamped before it had been committed (or rolled back) when it was taken,
 * and the journal is append-only, so the rows stamped before a cutoff never change afterwards.
 */

/** The instant the stored balances are as of; null when none is stored yet. */
export async function readCheckpoint(db: DbOrTx): Promise<Date | null> {
  const { rows } = await sql<{ cutoff: Date }>`SELECT cutoff FROM reconcile_checkpoint`.execute(db);
  return rows[0]?.cutoff ?? null;
}

/** Replaces every balance with the sum of all rows stamped before `cutoff` (reads the whole journal). */
export async function rebuildCheckpoint(db: Db, cutoff: Date): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockCheckpoint(trx);
    await sql`DELETE FROM reconcile_balances`.execute(trx);
    await sql`
      INSERT INTO reconcile_balances (account, asset, balance)
      SELECT account, asset, sum(amount) FROM journal_entries WHERE created_at < ${cutoff}
      GROUP BY account, asset`.execute(trx);
    await sql`
      INSERT INTO reconcile_checkpoint (one, cutoff) VALUES (true, ${cutoff})
      ON CONFLICT (one) DO UPDATE SET cutoff = excluded.cutoff, updated_at = now()`.execute(trx);
  });
}

/**
 * Moves the checkpoint forward to `cutoff` by adding the rows stamped between the stored cutoff and it
 * (the window); nothing when the stored one is already as late (a concurrent run moved it). Builds it
 * from every row when none is stored. Returns the journal rows added.
 */
export async function advanceCheckpoint(db: Db, cutoff: Date): Promise<number> {
  const from = await readCheckpoint(db);
  if (from === null) {
    await rebuildCheckpoint(db, cutoff);
    return 0;
  }
  return db.transaction().execute(async (trx) => {
    const stored = await lockCheckpoint(trx);
    if (stored === null || stored.getTime() >= cutoff.getTime()) return 0;
    const { rows } = await sql<{ n: string }>`
      WITH w AS (
        SELECT account, asset, sum(amount) AS amount, count(*) AS n FROM journal_entries
        WHERE created_at >= ${stored} AND created_at < ${cutoff} GROUP BY account, asset),
      up AS (
        INSERT INTO reconcile_balances AS b (account, asset, balance) SELECT account, asset, amount FROM w
        ON CONFLICT (account, asset) DO UPDATE SET balance = b.balance + excluded.balance)
      SELECT coalesce(sum(n), 0)::text AS n FROM w`.execute(trx);
    await sql`UPDATE reconcile_checkpoint SET cutoff = ${cutoff}, updated_at = now()`.execute(trx);
    return Number(rows[0]?.n ?? 0);
  });
}

/** One writer of the checkpoint at a time; readers are not blocked (they read one snapshot). */
async function lockCheckpoint(trx: Tx): Promise<Date | null> {
  await sql`LOCK TABLE reconcile_checkpoint IN EXCLUSIVE MODE`.execute(trx);
  return readCheckpoint(trx);
}
