import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import type { MintBatchStatus } from "../../db/schema.js";
import { batchStatusesInto } from "../../domain/mint-batch-state.js";
import { REWARD_STATUSES, REWARD_TRANSITIONS, type RewardStatus } from "../../domain/reward-state.js";
import { AppError } from "../../errors.js";

/**
 * Every status change the minter makes, of a reward or of a batch, goes through this module: the
 * statuses a statement may move rows from are derived from the state machines
 * (`REWARD_TRANSITIONS`, `MINT_BATCH_TRANSITIONS`), never written by hand, and each statement stays
 * set-based (one conditional UPDATE for many rows).
 */

/** What the minter holds: a reward in one of its batches. */
export const IN_BATCH: readonly RewardStatus[] = Object.freeze(["minting"]);

/**
 * The statuses a reward may move into `to` from, per the state machine, limited to `scope` (the
 * rewards the statement may touch at all: `IN_BATCH` for a batch's own rewards).
 * @throws AppError("invalid_transition") when none of `scope` leads to `to`.
 */
export function rewardsFrom(
  to: RewardStatus,
  scope: readonly RewardStatus[] = REWARD_STATUSES,
): RewardStatus[] {
  const from = scope.filter((status) => status !== to && REWARD_TRANSITIONS[status].includes(to));
  if (from.length === 0) {
    throw new AppError(
      "invalid_transition",
      `the minter cannot move a reward from ${scope.join("/")} to ${to}`,
      {
        details: { from: scope, to },
      },
    );
  }
  return from;
}

/**
 * Moves a batch's own rewards (`ids`, still in flight in `batchId`) to `to`: ONE conditional UPDATE,
 * from the statuses the state machine allows. The caller adds columns (`set`) and `returning`.
 */
export function moveBatchRewards(trx: DbOrTx, move: { batchId: bigint; ids: bigint[]; to: RewardStatus }) {
  return trx
    .updateTable("referral_rewards")
    .set({ status: move.to, updated_at: sql<Date>`now()` })
    .where("id", "in", move.ids)
    .where("status", "in", rewardsFrom(move.to, IN_BATCH))
    .where("batch_id", "=", move.batchId);
}

/**
 * Moves a batch to `to`, only while it is in a status the batch state machine moves from. The caller
 * adds columns (`set`) and `returning`; zero rows means another run resolved it meanwhile.
 */
export function moveBatch(conn: DbOrTx, batchId: bigint, to: MintBatchStatus) {
  return conn
    .updateTable("mint_batches")
    .set({ status: to })
    .where("id", "=", batchId)
    .where("status", "in", batchStatusesInto(to));
}
