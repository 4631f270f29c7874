import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";

/** One round trip that answers whether the database takes statements (`/readyz`). */
export async function pingDatabase(db: DbOrTx): Promise<void> {
  await sql`select 1`.execute(db);
}

/** Rewards per status (`/metrics`). */
export async function countRewardsByStatus(db: DbOrTx) {
  return db
    .selectFrom("referral_rewards")
    .select(["status", (eb) => eb.fn.countAll<bigint>().as("n")])
    .groupBy("status")
    .execute();
}

/** The mint queue: approved and minting rewards, open batches, age of the oldest approved reward. */
export async function readMintQueue(db: DbOrTx) {
  const row = await sql<{ approved: string; minting: string; open_batches: string; oldest: string | null }>`
      SELECT
        (SELECT count(*) FROM referral_rewards WHERE status = 'approved')::text AS approved,
        (SELECT count(*) FROM referral_rewards WHERE status = 'minting')::text AS minting,
        (SELECT count(*) FROM mint_batches WHERE status IN (${sql.join(OPEN_BATCH_STATUSES)}))::text AS open_batches,
        (SELECT extract(epoch FROM now() - min(updated_at))::bigint::text
           FROM referral_rewards WHERE status = 'approved') AS oldest`
    .execute(db)
    .then((result) => result.rows[0]);
  return {
    approved: Number(row?.approved ?? 0),
    minting: Number(row?.minting ?? 0),
    openBatches: Number(row?.open_batches ?? 0),
    oldestApprovedAgeSeconds: Number(row?.oldest ?? 0),
  };
}
