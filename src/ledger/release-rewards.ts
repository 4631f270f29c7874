import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import { canTransition } from "../domain/reward-state.js";
import { type Actor, audit } from "./audit.js";
import { appendClawback, clawbackDebt, lockReferrers } from "./clawbacks.js";
import { accounts, postJournal, WEI } from "./journal.js";

/**
 * A refund that arrives while a reward is `minting` cannot know whether the batch will be paid, so it
 * books the reduction as clawback debt tied to the reward (`clawed_back_basis`, a `debt` row), as for a
 * minted reward (`reduceReward`). When the minter then proves the batch unsent or unpaid and puts the
 * reward back to `approved`, that debt was never owed: this turns it back into a reduction of the
 * reward itself, as if the refund had come before the claim. In the release transaction, after the
 * `minting → approved` update (reward rows locked), referrers locked last (docs/ledger.md, "Lock order"):
 *
 * - the reward's basis drops by its `clawed_back_basis` (back to 0), `amount_wei` to what the order
 *   still entitles, netted debt it can no longer cover is `restored`; nothing left → `cancelled`;
 * - the debt is undone by a `released` clawback row (negative) and the journal posts
 *   `receivable:clawback −debt (+restored)`, `liability:rewards +Δamount`.
 *
 * If part of that debt was meanwhile netted from a newer reward, only what is still owed can be undone
 * (the running balance never goes below zero); the rest stays netted, is reported in the audit entry
 * (`shortfallWei`) and booked against the reward expense.
 */

export interface ReleasedRewardChange {
  rewardId: bigint;
  action: "reduced" | "cancelled";
  amountWei: bigint;
  undoneDebtWei: bigint;
  shortfallWei: bigint;
}

/** Re-applies refunds booked while in flight to rewards just released to `approved`. */
export async function reapplyRefundsOnRelease(
  trx: DbOrTx,
  actor: Actor,
  rewardIds: bigint[],
  context: { batchId: bigint },
): Promise<ReleasedRewardChange[]> {
  if (rewardIds.length === 0) return [];
  const rewards = await trx
    .selectFrom("referral_rewards")
    .selectAll()
    .where("id", "in", rewardIds)
    .where("status", "=", "approved")
    .where("clawed_back_basis", ">", 0n)
    .orderBy("id")
    .execute();
  if (rewards.length === 0) return [];
  await lockReferrers(
    trx,
    rewards.map((reward) => reward.referrer_member_id),
  );
  const changes: ReleasedRewardChange[] = [];
  const sourceId = `batch:${context.batchId}:released`;
  for (const reward of rewards) {
    const referrer = reward.referrer_member_id;
    const rate = BigInt(reward.wei_per_minor_unit);
    const reduction = reward.clawed_back_basis;
    const debtWei = reduction * rate;
    const owed = await clawbackDebt(trx, referrer);
    const undone = debtWei < owed ? debtWei : owed;
    const shortfall = debtWei - undone;

    const grossBefore = reward.fiat_basis * rate;
    const amountBefore = BigInt(reward.amount_wei);
    const nettedBefore = BigInt(reward.clawback_netted_wei);
    const basisAfter = reward.fiat_basis - reduction;
    const grossAfter = basisAfter * rate;
    const nettedAfter = nettedBefore < grossAfter ? nettedBefore : grossAfter;
    const amountAfter = grossAfter - nettedAfter;
    const restored = nettedBefore - nettedAfter;
    const cancel = amountAfter === 0n && canTransition("approved", "cancelled");
    const statusAfter = cancel ? "cancelled" : "approved";

    await trx
      .updateTable("referral_rewards")
      .set({
        fiat_basis: basisAfter,
        clawed_back_basis: 0n,
        amount_wei: amountAfter.toString(),
        clawback_netted_wei: nettedAfter.toString(),
        status: statusAfter,
        updated_at: sql<Date>`now()`,
      })
      .where("id", "=", reward.id)
      .execute();
    if (undone > 0n) {
      await appendClawback(trx, {
        referrer,
        kind: "released",
        amountWei: -undone,
        rewardId: reward.id,
        orderReference: reward.order_reference,
        sourceId,
      });
    }
    if (restored > 0n) {
      await appendClawback(trx, {
        referrer,
        kind: "restored",
        amountWei: restored,
        rewardId: reward.id,
        orderReference: reward.order_reference,
        sourceId,
      });
    }
    await postJournal(trx, {
      event: "reward.released",
      orderReference: reward.order_reference,
      postings: [
        { account: accounts.clawbackReceivable(referrer), asset: WEI, amount: restored - undone },
        { account: accounts.rewardLiability(referrer), asset: WEI, amount: amountBefore - amountAfter },
        // grossAfter − grossBefore = −debtWei, already taken off the expense when the debt was booked.
        {
          account: accounts.rewardExpense,
          asset: WEI,
          amount: grossAfter - grossBefore + debtWei - shortfall,
        },
      ],
    });
    await audit(
      trx,
      actor,
      cancel ? "reward.cancelled" : "reward.reduced",
      { type: "reward", id: reward.id },
      {
        status: "approved",
        fiatBasis: reward.fiat_basis,
        clawedBackBasis: reduction,
        amountWei: amountBefore,
        nettedWei: nettedBefore,
      },
      {
        status: statusAfter,
        fiatBasis: basisAfter,
        clawedBackBasis: 0n,
        amountWei: amountAfter,
        nettedWei: nettedAfter,
        undoneDebtWei: undone,
        ...(shortfall > 0n ? { shortfallWei: shortfall } : {}),
        reason: "refunded while minting; batch released unpaid",
        batchId: context.batchId,
      },
    );
    changes.push({
      rewardId: reward.id,
      action: cancel ? "cancelled" : "reduced",
      amountWei: amountAfter,
      undoneDebtWei: undone,
      shortfallWei: shortfall,
    });
  }
  return changes;
}
