import { sql } from "kysely";
import type { MintBatch } from "../../db/schema.js";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";
import { lease, type MinterContext } from "./context.js";
import { rewardsFrom } from "./transitions.js";
import { type ClaimedReward, REWARD_COLUMNS } from "./types.js";

/**
 * Claims up to `limit` approved rewards (oldest first, each with its referrer's wallet) into a new
 * batch, in ONE statement: `picked` locks them (`FOR UPDATE SKIP LOCKED`: another operator's run
 * takes other rows), `batch` inserts the batch row only when something was picked (count and total
 * from the picked rows), `claimed` moves them to `minting` with the batch id, and `linked` records
 * them in `mint_batch_rewards`. The statuses a claim moves from are the state machine's.
 */
export async function claim(
  ctx: MinterContext,
  limit: number,
): Promise<{ batchId: bigint; rewards: ClaimedReward[] } | undefined> {
  const from = rewardsFrom("minting");
  const { rows } = await sql<ClaimedReward & { batch_id: bigint }>`
    WITH picked AS (
      SELECT r.id, m.wallet_address, r.amount_wei
        FROM referral_rewards r
        JOIN members m ON m.member_id = r.referrer_member_id
       WHERE r.status IN (${sql.join(from)})
         AND m.wallet_address IS NOT NULL
       ORDER BY r.id
       LIMIT ${limit}
         FOR UPDATE OF r SKIP LOCKED
    ), batch AS (
      INSERT INTO mint_batches (operator, chain_id, lease_expires_at, reward_count, total_wei, claimed_by)
      SELECT ${ctx.operator}, ${ctx.chain.chainId}, ${lease(ctx)}, count(*), coalesce(sum(amount_wei), 0),
             ${ctx.claimedBy}
        FROM picked
      HAVING count(*) > 0
      RETURNING id
    ), claimed AS (
      UPDATE referral_rewards r
         SET status = ${"minting"}, batch_id = batch.id, wallet_address = picked.wallet_address,
             attempts = r.attempts + 1, updated_at = now()
        FROM picked, batch
       WHERE r.id = picked.id
      RETURNING ${sql.join(REWARD_COLUMNS.map((column) => sql.ref(`r.${column}`)))}, batch.id AS batch_id
    ), linked AS (
      INSERT INTO mint_batch_rewards (batch_id, reward_id) SELECT batch_id, id FROM claimed
    )
    SELECT * FROM claimed ORDER BY id`.execute(ctx.db);
  if (rows.length === 0) return undefined;
  const rewards = rows.map(({ batch_id: _batchId, ...reward }) => ({
    ...reward,
    id: BigInt(reward.id),
    attempts: Number(reward.attempts),
  }));
  return { batchId: BigInt(rows[0]!.batch_id), rewards };
}

/** The rewards still in flight in a batch (`minting`), oldest first. */
export async function mintingRewards(ctx: MinterContext, batchId: bigint): Promise<ClaimedReward[]> {
  return (await ctx.db
    .selectFrom("referral_rewards")
    .select(REWARD_COLUMNS)
    .where("batch_id", "=", batchId)
    .where("status", "=", "minting")
    .orderBy("id")
    .execute()) as ClaimedReward[];
}

/** One batch in flight per operator key: a batch still open (its lease live) keeps its nonce. */
export async function openBatch(ctx: MinterContext): Promise<MintBatch | undefined> {
  return ctx.db
    .selectFrom("mint_batches")
    .selectAll()
    .where("status", "in", OPEN_BATCH_STATUSES)
    .where("operator", "=", ctx.operator)
    .executeTakeFirst();
}
