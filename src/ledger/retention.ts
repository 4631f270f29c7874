import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";

/**
 * Retention of the tables that grow without bound (docs/scaling.md "Retention and partitioning").
 * `webhook_events` and `idempotency_keys` are pruned by batched deletes: each batch is one
 * autocommitted statement over at most `batchSize` primary keys found through the time index
 * (0016), so no lock is held longer than one batch and concurrent deliveries are never blocked for
 * the whole run. `audit_log` is partitioned by month and loses whole partitions instead.
 */

export interface BatchOptions {
  /** Rows per DELETE statement. */
  batchSize: number;
  /** Pause between batches (ms), so a long backlog leaves room for other work. Default 0. */
  pauseMs?: number;
  /** Stops after this many batches (a backlog is finished by the next runs). Default unbounded. */
  maxBatches?: number;
}

type Prunable = "webhook_events" | "idempotency_keys";

const PRUNE = {
  // Dedupe holds for as long as the row exists: rows are removed only once every provider has
  // stopped redelivering (the window is configured above the longest redelivery schedule).
  webhook_events: (db: DbOrTx, before: Date, limit: number) =>
    sql`
    DELETE FROM webhook_events WHERE (provider, event_id) IN (
      SELECT provider, event_id FROM webhook_events WHERE received_at < ${before}
       ORDER BY received_at LIMIT ${limit})`.execute(db),
  idempotency_keys: (db: DbOrTx, before: Date, limit: number) =>
    sql`
    DELETE FROM idempotency_keys WHERE (principal, key) IN (
      SELECT principal, key FROM idempotency_keys WHERE created_at < ${before}
       ORDER BY created_at LIMIT ${limit})`.execute(db),
} satisfies Record<Prunable, (db: DbOrTx, before: Date, limit: number) => Promise<unknown>>;

/** Deletes the rows of `table` older than `before`, batch by batch. Returns how many went. */
export async function pruneBefore(
  db: DbOrTx,
  table: Prunable,
  before: Date,
  options: BatchOptions,
): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < (options.maxBatches ?? Number.POSITIVE_INFINITY); batch++) {
    const result = (await PRUNE[table](db, before, options.batchSize)) as { numAffectedRows?: bigint };
    const n = Number(result.numAffectedRows ?? 0n);
    deleted += n;
    if (n < options.batchSize) break;
    if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
  }
  return deleted;
}

/**
 * Creates the month partitions of `audit_log` from the month of `at` through `monthsAhead` months
 * after it (0016's `twinrail_audit_log_ensure_partitions`). Returns the partitions it created.
 */
export async function ensureAuditPartitions(db: DbOrTx, monthsAhead: number, at = new Date()) {
  const { rows } = await sql<{ name: string }>`
    SELECT twinrail_audit_log_ensure_partitions(${monthsAhead}::int, ${at}::timestamptz) AS name`.execute(db);
  return rows.map((row) => row.name);
}

/** Drops the `audit_log` partitions whose every row is older than `before`. Returns their names. */
export async function dropAuditPartitions(db: DbOrTx, before: Date) {
  const { rows } = await sql<{ name: string }>`
    SELECT twinrail_audit_log_drop_partitions(${before}::timestamptz) AS name`.execute(db);
  return rows.map((row) => row.name);
}
