import type { DbOrTx } from "../../db/connect.js";

/**
 * The latest `limit` mint batches, newest first, with every reward each claimed (and that reward's
 * status and batch now) and every transaction each signed, oldest first.
 */
export async function listMintBatches(db: DbOrTx, limit: number) {
  const batches = await db
    .selectFrom("mint_batches")
    .selectAll()
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
  const ids = batches.map((batch) => batch.id);
  const [claimed, txs] = ids.length
    ? await Promise.all([
        db
          .selectFrom("mint_batch_rewards as b")
          .innerJoin("referral_rewards as r", "r.id", "b.reward_id")
          .select(["b.batch_id", "b.reward_id", "r.status", "r.batch_id as current_batch_id"])
          .where("b.batch_id", "in", ids)
          .orderBy("b.reward_id")
          .execute(),
        db
          .selectFrom("mint_batch_txs")
          .select(["batch_id", "tx_hash", "max_fee_per_gas", "max_priority_fee_per_gas", "created_at"])
          .where("batch_id", "in", ids)
          .orderBy("created_at")
          .execute(),
      ])
    : [[], []];
  return { batches, claimed, txs };
}
