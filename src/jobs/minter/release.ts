import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";
import { audit } from "../../ledger/audit.js";
import { reapplyRefundsOnRelease } from "../../ledger/release-rewards.js";
import { ACTOR, fail, type MinterContext } from "./context.js";
import { moveBatch, moveBatchRewards } from "./transitions.js";

/**
 * Puts unpaid rewards back to `approved` (`minting → approved`), in one transaction with any `more`
 * groups (each with its own reason); `batchStatus` null leaves the batch row as it is. A refund booked
 * while a reward was in flight is applied to the reward itself here (`reapplyRefundsOnRelease`: it
 * comes back reduced to what the order still entitles, or cancelled). `trim`: the batch is not signed
 * yet and keeps only the rewards still `minting` (count, total and its reward list follow).
 */
export async function release(
  ctx: MinterContext,
  batchId: bigint,
  rewardIds: bigint[],
  reason: string,
  batchStatus: "released" | "failed" | null,
  options: { more?: { ids: bigint[]; reason: string }[]; trim?: boolean } = {},
): Promise<void> {
  const groups = [{ ids: rewardIds, reason }, ...(options.more ?? [])].filter((group) => group.ids.length);
  await ctx.db.transaction().execute(async (trx) => {
    const released: bigint[] = [];
    for (const group of groups) {
      const rows = await moveBatchRewards(trx, { batchId, ids: group.ids, to: "approved" })
        .set({ batch_id: null })
        .returning("id")
        .execute();
      for (const row of rows) {
        released.push(row.id);
        await audit(
          trx,
          ACTOR,
          "reward.released",
          { type: "reward", id: row.id },
          { status: "minting", batchId },
          { status: "approved", reason: group.reason },
        );
      }
    }
    if (released.length) await reapplyRefunds(ctx, trx, batchId, released);
    if (options.trim && released.length) await trimBatch(trx, batchId, released);
    if (batchStatus) {
      await moveBatch(trx, batchId, batchStatus)
        .set({ error: reason, updated_at: sql<Date>`now()` })
        .execute();
    }
  });
}

/** A refund booked while in flight, applied to the released reward itself (logged per reward). */
async function reapplyRefunds(ctx: MinterContext, trx: DbOrTx, batchId: bigint, released: bigint[]) {
  for (const change of await reapplyRefundsOnRelease(trx, ACTOR, released, { batchId })) {
    ctx.logger.info(
      {
        batchId: batchId.toString(),
        rewardId: change.rewardId.toString(),
        action: change.action,
        amountWei: change.amountWei.toString(),
        undoneDebtWei: change.undoneDebtWei.toString(),
        shortfallWei: change.shortfallWei.toString(),
      },
      "refund while minting applied to the released reward",
    );
  }
}

/** An unsigned batch keeps only the rewards still `minting`: its list, count and total follow. */
async function trimBatch(trx: DbOrTx, batchId: bigint, released: bigint[]) {
  await trx
    .deleteFrom("mint_batch_rewards")
    .where("batch_id", "=", batchId)
    .where("reward_id", "in", released)
    .execute();
  const kept = await trx
    .selectFrom("referral_rewards")
    .select([
      sql<string>`count(*)::text`.as("n"),
      sql<string>`coalesce(sum(amount_wei), 0)::text`.as("total"),
    ])
    .where("batch_id", "=", batchId)
    .where("status", "=", "minting")
    .executeTakeFirstOrThrow();
  await trx
    .updateTable("mint_batches")
    .set({ reward_count: Number(kept.n), total_wei: kept.total, updated_at: sql<Date>`now()` })
    .where("id", "=", batchId)
    .where("status", "in", OPEN_BATCH_STATUSES)
    .execute();
}

/** `minting → failed`: only for a permanent revert of this one reward. */
export async function failReward(
  ctx: MinterContext,
  batchId: bigint,
  rewardId: bigint,
  reason: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = await moveBatchRewards(trx, { batchId, ids: [rewardId], to: "failed" })
      .set({ failure_reason: reason, batch_id: null })
      .returning("id")
      .executeTakeFirst();
    if (row) {
      await audit(
        trx,
        ACTOR,
        "reward.failed",
        { type: "reward", id: rewardId },
        { status: "minting" },
        { status: "failed", reason },
      );
    }
  });
  fail(ctx, "item", reason);
  ctx.logger.error({ batchId: batchId.toString(), rewardId: rewardId.toString(), reason }, "reward failed");
}
