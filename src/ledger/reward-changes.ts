import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { FraudSignal, HoldReason, PaymentRail, Reward, RewardStatusColumn } from "../db/schema.js";
import { canTransition } from "../domain/reward-state.js";
import { rewardWei } from "../domain/settlement.js";
import { type Actor, audit, auditRow } from "./audit.js";
import { appendClawback, clawbackDebt, lockReferrer, lockReferrers } from "./clawbacks.js";
import { accounts, journalRows, postJournal, rewardCreatedPostings, WEI } from "./journal.js";
import { insertReward } from "./statements/insert-reward.js";

/**
 * The money side of a reward's life, shared by order.paid, membership.paid, refunds, chargebacks and
 * rejection. Each function runs in the caller's transaction and writes the reward row, the clawback
 * trail and the journal together.
 *
 * Terms: gross = fiat_basis × wei_per_minor_unit (what the referrer earned); netted = earlier clawback
 * debt paid down by this reward; amount_wei = gross − netted (what the chain is asked to mint).
 */

export interface NewReward {
  orderReference: string;
  orderRefHash: string;
  source: "order" | "membership";
  referrer: string;
  buyer: string | null;
  wallet: string | null;
  currency: string;
  fiatBasis: bigint;
  weiPerMinorUnit: bigint;
  paymentRail: PaymentRail;
  status: RewardStatusColumn;
  signals: FraudSignal[];
  approvedBy?: string;
  /** Why a reward created `held` is held; by default `amount_mismatch` when that signal is stored, else `review`. */
  holdReason?: HoldReason;
}

/**
 * Creates the reward (one per reference: ON CONFLICT DO NOTHING) and nets the referrer's clawback debt
 * from it BEFORE mint. A reward wholly consumed by debt has nothing to mint and starts `cancelled`
 * (its value was delivered by the netting). Returns undefined when the reward already existed.
 *
 * The referrer's row lock (the one lock every debt change takes) is taken only when the referrer HAS
 * debt: the debt last committed is read without a lock (`knownDebt`, or one query), and when it is
 * zero nothing is netted — a debt committed meanwhile by a concurrent refund is simply netted from a
 * later reward, as if this one had been created first. So the rewards of one referrer do not queue
 * behind each other (the hot row of issue 9); with debt, the lock is taken and the debt read again.
 */
export async function createReward(
  trx: DbOrTx,
  actor: Actor,
  event: string,
  input: NewReward & { knownDebt?: bigint },
): Promise<{ id: bigint; status: string; amount_wei: string; netted: bigint } | undefined> {
  let debt = input.knownDebt ?? (await clawbackDebt(trx, input.referrer));
  if (debt > 0n) {
    await lockReferrer(trx, input.referrer);
    debt = await clawbackDebt(trx, input.referrer);
  }
  const { netted, insert } = rewardRows(actor, event, input, debt);
  const reward = await insertReward(trx, insert);
  return reward ? { ...reward, netted } : undefined;
}

/**
 * The rows `createReward` inserts for `input` given the referrer's current clawback `debt` (netted
 * first): the reward, its netting row, journal transaction and audit entry. Pure: shared with the
 * grouped `order.paid` (which takes it only for referrers without debt).
 */
export function rewardRows(
  actor: Actor,
  event: string,
  input: NewReward,
  debt: bigint,
): { netted: bigint; insert: Parameters<typeof insertReward>[1] } {
  const grossWei = rewardWei(input.fiatBasis, input.weiPerMinorUnit);
  const netted = debt < grossWei ? debt : grossWei;
  const amountWei = grossWei - netted;
  const status: RewardStatusColumn = netted > 0n && amountWei === 0n ? "cancelled" : input.status;
  const approved = status === "approved" && input.approvedBy;
  const holdReason: HoldReason | null =
    status !== "held"
      ? null
      : (input.holdReason ??
        (input.signals.some((signal) => signal.code === "amount_mismatch") ? "amount_mismatch" : "review"));
  return {
    netted,
    insert: {
      reward: {
        order_reference: input.orderReference,
        order_ref_hash: input.orderRefHash,
        source: input.source,
        referrer_member_id: input.referrer,
        buyer_member_id: input.buyer,
        wallet_address: input.wallet,
        currency: input.currency,
        fiat_basis: input.fiatBasis.toString(),
        wei_per_minor_unit: input.weiPerMinorUnit.toString(),
        amount_wei: amountWei.toString(),
        clawback_netted_wei: netted.toString(),
        payment_rail: input.paymentRail,
        status,
        fraud_signals: input.signals,
        approved_by: approved ? input.approvedBy! : null,
        approved_at: approved ? new Date().toISOString() : null,
        hold_reason: holdReason,
      },
      netting:
        netted > 0n
          ? {
              referrer_member_id: input.referrer,
              kind: "netted",
              amount_wei: (-netted).toString(),
              debt_after: (debt - netted).toString(),
              order_reference: input.orderReference,
              source_id: null,
            }
          : null,
      journal: journalRows({
        event,
        orderReference: input.orderReference,
        postings: rewardCreatedPostings(input.referrer, grossWei, netted, amountWei),
      }),
      audit: auditRow(actor, "reward.created", { type: "reward", id: "" }, null, {
        orderReference: input.orderReference,
        source: input.source,
        status,
        ...(holdReason ? { holdReason } : {}),
        amountWei: amountWei.toString(),
        fiatBasis: input.fiatBasis,
        clawbackNettedWei: netted,
      }),
    },
  };
}

/** Whether the reward's value has left the platform (minted, in flight, or delivered by netting). */
export function isDelivered(reward: Pick<Reward, "status" | "clawback_netted_wei">): boolean {
  return (
    reward.status === "minting" ||
    reward.status === "minted" ||
    (reward.status === "cancelled" && BigInt(reward.clawback_netted_wei) > 0n)
  );
}

/**
 * Lowers a reward's effective basis (fiat_basis − clawed_back_basis) to `targetBasis` after a refund.
 * Before mint the row itself is reduced (cancelled at zero) and netted debt it can no longer cover is
 * restored; once delivered, the difference becomes clawback debt of the referrer. Rejected rewards
 * are void and left alone. The reward row must be locked by the caller.
 */
export async function reduceReward(
  trx: DbOrTx,
  actor: Actor,
  reward: Reward,
  targetBasis: bigint,
  context: { event: string; sourceId: string },
): Promise<{ action: "none" | "reduced" | "cancelled" | "clawback"; reductionBasis: bigint }> {
  if (reward.status === "rejected") return { action: "none", reductionBasis: 0n };
  const effective = reward.fiat_basis - reward.clawed_back_basis;
  const reduction = effective - targetBasis;
  if (reduction <= 0n) return { action: "none", reductionBasis: 0n };
  const rate = BigInt(reward.wei_per_minor_unit);
  const referrer = reward.referrer_member_id;
  await lockReferrer(trx, referrer);

  if (isDelivered(reward)) {
    const debtWei = reduction * rate;
    await trx
      .updateTable("referral_rewards")
      .set({ clawed_back_basis: reward.clawed_back_basis + reduction, updated_at: sql<Date>`now()` })
      .where("id", "=", reward.id)
      .execute();
    const debtAfter = await appendClawback(trx, {
      referrer,
      kind: "debt",
      amountWei: debtWei,
      rewardId: reward.id,
      orderReference: reward.order_reference,
      sourceId: context.sourceId,
    });
    await postJournal(trx, {
      event: context.event,
      orderReference: reward.order_reference,
      postings: [
        { account: accounts.clawbackReceivable(referrer), asset: WEI, amount: debtWei },
        { account: accounts.rewardExpense, asset: WEI, amount: -debtWei },
      ],
    });
    await audit(
      trx,
      actor,
      "reward.clawback",
      { type: "reward", id: reward.id },
      { status: reward.status, clawedBackBasis: reward.clawed_back_basis },
      {
        status: reward.status,
        clawedBackBasis: reward.clawed_back_basis + reduction,
        debtWei,
        debtAfterWei: debtAfter,
        sourceId: context.sourceId,
      },
    );
    return { action: "clawback", reductionBasis: reduction };
  }

  const grossBefore = reward.fiat_basis * rate;
  const amountBefore = BigInt(reward.amount_wei);
  const nettedBefore = BigInt(reward.clawback_netted_wei);
  const basisAfter = reward.fiat_basis - reduction;
  const grossAfter = basisAfter * rate;
  const nettedAfter = nettedBefore < grossAfter ? nettedBefore : grossAfter;
  const amountAfter = grossAfter - nettedAfter;
  const restored = nettedBefore - nettedAfter;
  const cancel =
    amountAfter === 0n && reward.status !== "cancelled" && canTransition(reward.status, "cancelled");
  const statusAfter = cancel ? "cancelled" : reward.status;
  await trx
    .updateTable("referral_rewards")
    .set({
      fiat_basis: basisAfter,
      amount_wei: amountAfter.toString(),
      clawback_netted_wei: nettedAfter.toString(),
      status: statusAfter,
      updated_at: sql<Date>`now()`,
    })
    .where("id", "=", reward.id)
    .execute();
  if (restored > 0n) {
    await appendClawback(trx, {
      referrer,
      kind: "restored",
      amountWei: restored,
      rewardId: reward.id,
      orderReference: reward.order_reference,
      sourceId: context.sourceId,
    });
  }
  await postJournal(trx, {
    event: context.event,
    orderReference: reward.order_reference,
    postings: [
      { account: accounts.rewardExpense, asset: WEI, amount: grossAfter - grossBefore },
      { account: accounts.rewardLiability(referrer), asset: WEI, amount: amountBefore - amountAfter },
      { account: accounts.clawbackReceivable(referrer), asset: WEI, amount: restored },
    ],
  });
  await audit(
    trx,
    actor,
    cancel ? "reward.cancelled" : "reward.reduced",
    { type: "reward", id: reward.id },
    { status: reward.status, fiatBasis: reward.fiat_basis, amountWei: amountBefore, nettedWei: nettedBefore },
    {
      status: statusAfter,
      fiatBasis: basisAfter,
      amountWei: amountAfter,
      nettedWei: nettedAfter,
      sourceId: context.sourceId,
    },
  );
  return { action: cancel ? "cancelled" : "reduced", reductionBasis: reduction };
}

/**
 * Reverses rejected rewards in the journal (the liability goes, the expense is undone) and gives back
 * to the referrer's debt whatever was netted from them. Called in the rejection's transaction.
 */
export async function reverseRejectedRewards(trx: DbOrTx, rewardIds: bigint[]): Promise<void> {
  if (rewardIds.length === 0) return;
  const rewards = await trx
    .selectFrom("referral_rewards")
    .selectAll()
    .where("id", "in", rewardIds)
    .where("status", "=", "rejected")
    .orderBy("id")
    .execute();
  // The referrers whose debt changes, locked up front in the global order (sorted ids).
  await lockReferrers(
    trx,
    rewards
      .filter((reward) => BigInt(reward.clawback_netted_wei) > 0n)
      .map((reward) => reward.referrer_member_id),
  );
  for (const reward of rewards) {
    const amount = BigInt(reward.amount_wei);
    const netted = BigInt(reward.clawback_netted_wei);
    if (netted > 0n) {
      await appendClawback(trx, {
        referrer: reward.referrer_member_id,
        kind: "restored",
        amountWei: netted,
        rewardId: reward.id,
        orderReference: reward.order_reference,
        sourceId: "rejected",
      });
    }
    await postJournal(trx, {
      event: "reward.rejected",
      orderReference: reward.order_reference,
      postings: [
        { account: accounts.rewardExpense, asset: WEI, amount: -(amount + netted) },
        { account: accounts.rewardLiability(reward.referrer_member_id), asset: WEI, amount },
        { account: accounts.clawbackReceivable(reward.referrer_member_id), asset: WEI, amount: netted },
      ],
    });
  }
}
