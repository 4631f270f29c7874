import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import { remainingAfterOrderRefunds, settlementsFullyRefunded } from "../domain/money.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";
import { accounts, postJournal } from "./journal.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { reduceReward } from "./reward-changes.js";
import { moveSettlement } from "./status-changes.js";

export interface RefundEvent {
  orderReference: string;
  refundId: string;
  amountRefunded: bigint;
  refundedAt: Date;
}

/**
 * `order.refunded` (partial or full, several per order), in the webhook's transaction. Everything is
 * recomputed from the CUMULATIVE refunded total with `remainingAfterOrderRefunds` (the base is the
 * amount paid, or the order total when more was paid), so many partial refunds
 * land exactly where one refund of their sum would (no drift, any delivery order):
 *
 * - each vendor settlement gets an appended adjustment (commission, platform fee and net reduced
 *   proportionally; gross is their sum). Unpaid settlements are paid out adjusted; for settlements
 *   already in a payout the negative adjustment is netted from the vendor's next payout;
 * - the reward's basis follows Σ commissions: reduced or cancelled before mint, clawback debt after.
 *
 * A refund id already recorded for the order is a duplicate (same amount) or a 409 (different amount).
 * Refunds beyond the amount paid are refused (422 `refund_exceeds_paid`) before anything is written.
 */
export async function recordRefund(
  trx: DbOrTx,
  actor: Actor,
  event: RefundEvent,
  options: { kind?: "refund" | "chargeback"; journalEvent?: string } = {},
): Promise<WebhookOutcome> {
  const kind = options.kind ?? "refund";
  const journalEvent = options.journalEvent ?? "order.refunded";
  const order = await trx
    .selectFrom("orders")
    .selectAll()
    .where("order_reference", "=", event.orderReference)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (!order) {
    throw new AppError(
      "unprocessable",
      `order ${event.orderReference} is unknown; nothing was recorded, retry later`,
      {
        details: { orderReference: event.orderReference },
      },
    );
  }
  const previous = await trx
    .selectFrom("order_refunds")
    .selectAll()
    .where("order_reference", "=", order.order_reference)
    .where("refund_id", "=", event.refundId)
    .executeTakeFirst();
  if (previous) {
    if (previous.amount !== event.amountRefunded || previous.kind !== kind) {
      throw new AppError(
        "order_conflict",
        `refund ${event.refundId} of order ${order.order_reference} was already recorded for ${previous.amount}`,
        { details: { orderReference: order.order_reference, refundId: event.refundId } },
      );
    }
    return {
      result: "duplicate",
      orderReference: order.order_reference,
      refundId: event.refundId,
      amountRefunded: order.amount_refunded.toString(),
    };
  }
  if (order.status === "created" || order.amount_paid === null) {
    throw new AppError(
      "unprocessable",
      `order ${order.order_reference} is not paid yet; nothing was recorded, retry after order.paid`,
      { details: { orderReference: order.order_reference } },
    );
  }
  if (event.amountRefunded <= 0n) {
    throw new AppError("validation_failed", "amountRefunded must be positive", {
      details: { field: "data.amountRefunded" },
    });
  }
  const paid = order.amount_paid;
  const before = order.amount_refunded;
  const after = before + event.amountRefunded;
  if (after > paid) {
    throw new AppError(
      "refund_exceeds_paid",
      `refunds of order ${order.order_reference} would total ${after} but ${paid} was paid; nothing was changed`,
      {
        details: {
          orderReference: order.order_reference,
          amountPaid: paid.toString(),
          amountRefunded: before.toString(),
          requested: event.amountRefunded.toString(),
        },
      },
    );
  }

  await trx
    .insertInto("order_refunds")
    .values({
      order_reference: order.order_reference,
      refund_id: event.refundId,
      kind,
      amount: event.amountRefunded,
      refunded_at: event.refundedAt,
      amount_refunded_after: after,
    })
    .execute();
  const status = after === paid ? "refunded" : "partially_refunded";
  await trx
    .updateTable("orders")
    .set({ amount_refunded: after, status, updated_at: sql<Date>`now()` })
    .where("order_reference", "=", order.order_reference)
    .execute();
  await audit(
    trx,
    actor,
    kind === "refund" ? "order.refunded" : "order.chargeback_lost",
    { type: "order", id: order.order_reference },
    { status: order.status, amountRefunded: before },
    { status, amountRefunded: after, refundId: event.refundId, amount: event.amountRefunded },
  );

  // Rail A: one appended adjustment per vendor settlement.
  const settlements = await trx
    .selectFrom("settlements")
    .selectAll()
    .where("order_reference", "=", order.order_reference)
    .orderBy("id")
    .forNoKeyUpdate()
    .execute();
  // Shared against the amount paid, or against the order total when the buyer paid more than it.
  const total = order.gross_amount;
  const remaining = (original: bigint, refunded: bigint) =>
    remainingAfterOrderRefunds(original, paid, total, refunded);
  const share = (original: bigint) => remaining(original, after) - remaining(original, before);
  let grossReduction = 0n;
  let feeReduction = 0n;
  let commissionReduction = 0n;
  const vendorNet = new Map<string, bigint>();
  let commissionAfter = 0n;
  let adjustments = 0;
  for (const settlement of settlements) {
    commissionAfter += remaining(settlement.referral_commission, after);
    const commissionDelta = share(settlement.referral_commission);
    const feeDelta = share(settlement.platform_fee);
    const netDelta = share(settlement.net);
    const grossDelta = commissionDelta + feeDelta + netDelta;
    if (grossDelta !== 0n) {
      const appliedTo =
        settlement.status === "in_payout" || settlement.status === "paid" ? "next_payout" : "settlement";
      const adjustment = await trx
        .insertInto("settlement_adjustments")
        .values({
          settlement_id: settlement.id,
          order_reference: order.order_reference,
          vendor_id: settlement.vendor_id,
          currency: settlement.currency,
          reason: kind,
          source_id: event.refundId,
          gross_delta: grossDelta,
          platform_fee_delta: feeDelta,
          referral_commission_delta: commissionDelta,
          net_delta: netDelta,
          applied_to: appliedTo,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      adjustments++;
      grossReduction -= grossDelta;
      feeReduction -= feeDelta;
      commissionReduction -= commissionDelta;
      vendorNet.set(settlement.vendor_id, (vendorNet.get(settlement.vendor_id) ?? 0n) - netDelta);
      await audit(
        trx,
        actor,
        "settlement.adjusted",
        { type: "settlement", id: settlement.id },
        { status: settlement.status },
        {
          status: settlement.status,
          adjustmentId: adjustment.id,
          reason: kind,
          sourceId: event.refundId,
          appliedTo,
          grossDelta,
          platformFeeDelta: feeDelta,
          referralCommissionDelta: commissionDelta,
          netDelta,
        },
      );
    }
    // A fully refunded settlement that was never paid out has nothing left to pay — held ones too
    // (an amount mismatch or a dispute): releasing them later would schedule a payout of nothing, and
    // a dispute's release skips a settlement that is no longer held.
    if (
      settlementsFullyRefunded(paid, total, after) &&
      (settlement.status === "pending" || settlement.status === "due" || settlement.status === "held")
    ) {
      await moveSettlement(trx, actor, {
        id: settlement.id,
        from: settlement.status,
        to: "cancelled",
        action: "settlement.cancelled",
        detail: { reason: `${kind} ${event.refundId}` },
      });
    }
  }
  await postJournal(trx, {
    event: journalEvent,
    orderReference: order.order_reference,
    postings: [
      { account: accounts.cash, asset: order.currency, amount: -event.amountRefunded },
      ...[...vendorNet].map(([vendorId, net]) => ({
        account: accounts.vendorPayable(vendorId),
        asset: order.currency,
        amount: net,
      })),
      { account: accounts.platformFeeRevenue, asset: order.currency, amount: feeReduction },
      { account: accounts.referralCommissionPayable, asset: order.currency, amount: commissionReduction },
      // The refund minus what came back from the settlements: rounding residue and paid≠total.
      {
        account: accounts.paymentDifference,
        asset: order.currency,
        amount: event.amountRefunded - grossReduction,
      },
    ],
  });

  // Rail B: the reward follows the commissions.
  const reward = await trx
    .selectFrom("referral_rewards")
    .selectAll()
    .where("order_reference", "=", order.order_reference)
    .where("source", "=", "order")
    .forNoKeyUpdate()
    .executeTakeFirst();
  const rewardChange = reward
    ? await reduceReward(trx, actor, reward, commissionAfter, {
        event: journalEvent,
        sourceId: event.refundId,
      })
    : undefined;

  return {
    result: "recorded",
    orderReference: order.order_reference,
    refundId: event.refundId,
    amountRefunded: after.toString(),
    amountPaid: paid.toString(),
    status,
    adjustments,
    reward: reward ? { id: reward.id.toString(), change: rewardChange?.action ?? "none" } : null,
  };
}
