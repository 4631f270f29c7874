import { sql } from "kysely";
import type { Db } from "../../db/connect.js";

/**
 * Folds the rollup deltas (appended by the triggers of migration 0015) into the day rollups, `batch`
 * rows per table per transaction, until none is left or another fold holds the lock. Safe to run
 * anywhere at any time: a delta committed after a fold's snapshot stays for the next one, and reads add
 * the unfolded deltas, so folding changes how fast a read is, never what it returns.
 */
export async function foldRollups(db: Db, options: { batch?: number; maxRounds?: number } = {}) {
  const batch = options.batch ?? 20_000;
  let moved = 0;
  for (let round = 0; round < (options.maxRounds ?? 100); round++) {
    const result = await sql<{ n: string }>`SELECT twinrail_fold_rollups(${batch})::text AS n`.execute(db);
    const n = Number(result.rows[0]?.n ?? 0);
    moved += n;
    if (n < batch) break;
  }
  return { moved };
}
