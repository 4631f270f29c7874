import { sql } from "kysely";
import type { Chain } from "../../chain/index.js";
import type { Db } from "../../db/connect.js";
import { type ReconcileReport, reconcile } from "../reconcile.js";
import { advanceCheckpoint, readCheckpoint, rebuildCheckpoint } from "./checkpoint.js";
import { reconcileWindow } from "./incremental.js";

export interface ReconcileRun extends Omit<ReconcileReport, "checked"> {
  checked: Record<string, number | null>;
  runId: string;
  mode: "full" | "incremental";
  /** Journal rows of transactions begun at or after this instant were checked (null: everything). */
  windowFrom: string | null;
  /** Where the next incremental run starts. */
  cutoff: string;
  /** Chain logs were checked up to this block (null: no chain). */
  toBlock: string | null;
}

/**
 * One reconcile run, stored in `reconcile_runs`: incremental by default (what changed since the
 * previous run's cutoff, see reconcile/incremental.ts), the full check with `full` or when no run is
 * stored yet. The cutoff is taken before anything is read: the earlier of now and the start of the
 * oldest transaction in flight in the database. Each run then moves the journal balance checkpoint to
 * its cutoff (reconcile/checkpoint.ts; a full run rebuilds it from every row).
 */
export async function runReconcile(
  db: Db,
  chain: Chain | null | undefined,
  options: { full?: boolean } = {},
) {
  const { rows } = await sql<{ started: Date; cutoff: Date }>`
    SELECT clock_timestamp() AS started, least(clock_timestamp(), (
      SELECT min(xact_start) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL)) AS cutoff`.execute(
    db,
  );
  const { started, cutoff } = rows[0]!;
  const previous = options.full
    ? undefined
    : (
        await sql<{ cutoff: Date; to_block: string | null }>`
          SELECT cutoff, to_block::text AS to_block FROM reconcile_runs ORDER BY id DESC LIMIT 1`.execute(db)
      ).rows[0];
  let run: Omit<ReconcileRun, "runId">;
  if (!previous) {
    const toBlock = chain ? await chain.publicClient.getBlockNumber() : null;
    const report = await reconcile(db, chain);
    await rebuildCheckpoint(db, cutoff);
    run = {
      ...report,
      mode: "full",
      windowFrom: null,
      cutoff: cutoff.toISOString(),
      toBlock: toBlock?.toString() ?? null,
    };
  } else {
    const fromBlock = previous.to_block !== null ? BigInt(previous.to_block) + 1n : null;
    // No checkpoint yet (the first incremental run after migration 0018): every row once, as of the
    // previous cutoff, whose rows had all committed when that run took it.
    if ((await readCheckpoint(db)) === null) await rebuildCheckpoint(db, previous.cutoff);
    const result = await reconcileWindow(db, chain, { from: previous.cutoff, fromBlock });
    const checkpointRows = await advanceCheckpoint(db, cutoff);
    run = {
      ok: result.mismatches.length === 0,
      mismatches: result.mismatches,
      checked: { ...result.checked, checkpointRows },
      at: new Date().toISOString(),
      mode: "incremental",
      windowFrom: previous.cutoff.toISOString(),
      cutoff: cutoff.toISOString(),
      toBlock: result.toBlock?.toString() ?? null,
    };
  }
  const inserted = await sql<{ id: string }>`
    INSERT INTO reconcile_runs (mode, window_from, cutoff, to_block, ok, mismatch_count, report, started_at)
    VALUES (${run.mode}, ${run.windowFrom}, ${run.cutoff}, ${run.toBlock}, ${run.ok}, ${run.mismatches.length},
            ${JSON.stringify({ mismatches: run.mismatches, checked: run.checked, at: run.at })}::jsonb, ${started})
    RETURNING id::text AS id`.execute(db);
  return { ...run, runId: inserted.rows[0]!.id } satisfies ReconcileRun;
}
