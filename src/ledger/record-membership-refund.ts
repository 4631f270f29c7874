import type { Config } from "../config.js";
import type { DbOrTx } from "../db/connect.js";
import { applyBps } from "../domain/money.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";
import { accounts, postJournal } from "./journal.js";
import { membershipPaymentReference } from "./record-membership-paid.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { reduceReward } from "./reward-changes.js";

export interface MembershipRefundEvent {
  membershipReference: string;
  /** The period refunded (1 = the first payment, the default). */
  period?: number;
  refundId: string;
  amountRefunded: bigint;
  refundedAt: Date;
}

/**
 * `membership.refunded`: a refund of ONE period of a membership (partial or full, several per period).
 * Only that period's reward follows: its basis becomes the rate it was paid with
 * (`membership_payments.referral_bps`) applied to what is left of that period's payment — reduced or
 * cancelled before mint, clawback debt after (reduceReward). Other periods are untouched. A refund id
 * already recorded for the period is a duplicate (same amount) or a 409; beyond the amount paid, 422.
 * Locks: the payment row (the order's place in the lock order), then its reward, then the referrer.
 */
export async function recordMembershipRefund(
  trx: DbOrTx,
  config: Pick<Config, "MEMBERSHIP_REFERRAL_BPS">,
  actor: Actor,
  event: MembershipRefundEvent,
): Promise<WebhookOutcome> {
  const reference = membershipPaymentReference(event.membershipReference, event.period ?? 1);
  const base = { membershipReference: event.membershipReference, paymentReference: reference };
  const payment = await trx
    .selectFrom("membership_payments")
    .selectAll()
    .where("membership_reference", "=", reference)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (!payment) {
    throw new AppError(
      "unprocessable",
      `membership payment ${reference} is unknown; nothing was recorded, retry after membership.paid`,
      { details: base },
    );
  }
  const previous = await trx
    .selectFrom("membership_refunds")
    .selectAll()
    .where("membership_reference", "=", reference)
    .where("refund_id", "=", event.refundId)
    .executeTakeFirst();
  if (previous) {
    if (previous.amount !== event.amountRefunded) {
      throw new AppError(
        "order_conflict",
        `refund ${event.refundId} of membership payment ${reference} was already recorded for ${previous.amount}`,
        { details: { ...base, refundId: event.refundId } },
      );
    }
    return { result: "duplicate", ...base, refundId: event.refundId };
  }
  const after = payment.amount_refunded + event.amountRefunded;
  if (event.amountRefunded <= 0n || after > payment.amount_paid) {
    throw new AppError(
      "refund_exceeds_paid",
      `refunds of membership payment ${reference} would total ${after} but ${payment.amount_paid} was paid; nothing was changed`,
      {
        details: {
          ...base,
          amountPaid: payment.amount_paid.toString(),
          amountRefunded: payment.amount_refunded.toString(),
          requested: event.amountRefunded.toString(),
        },
      },
    );
  }
  await trx
    .insertInto("membership_refunds")
    .values({
      membership_reference: reference,
      refund_id: event.refundId,
      amount: event.amountRefunded,
      refunded_at: event.refundedAt,
      amount_refunded_after: after,
    })
    .execute();
  await trx
    .updateTable("membership_payments")
    .set({ amount_refunded: after })
    .where("membership_reference", "=", reference)
    .execute();
  await audit(
    trx,
    actor,
    "membership.refunded",
    { type: "membership_payment", id: reference },
    { amountRefunded: payment.amount_refunded },
    { amountRefunded: after, refundId: event.refundId, amount: event.amountRefunded },
  );
  await postJournal(trx, {
    event: "membership.refunded",
    orderReference: reference,
    postings: [
      { account: accounts.cash, asset: payment.currency, amount: -event.amountRefunded },
      { account: accounts.membershipRevenue, asset: payment.currency, amount: event.amountRefunded },
    ],
  });

  const reward = await trx
    .selectFrom("referral_rewards")
    .selectAll()
    .where("order_reference", "=", reference)
    .where("source", "=", "membership")
    .forNoKeyUpdate()
    .executeTakeFirst();
  const bps = payment.referral_bps ?? config.MEMBERSHIP_REFERRAL_BPS;
  const change = reward
    ? await reduceReward(trx, actor, reward, membershipRewardBasis(payment.amount_paid - after, bps), {
        event: "membership.refunded",
        sourceId: event.refundId,
      })
    : undefined;
  return {
    result: "recorded",
    ...base,
    refundId: event.refundId,
    amountRefunded: after.toString(),
    amountPaid: payment.amount_paid.toString(),
    reward: reward ? { id: reward.id.toString(), change: change?.action ?? "none" } : null,
  };
}

/** What a membership payment's reward is worth in fiat: `bps` of what is left of it. */
export function membershipRewardBasis(remaining: bigint, bps: number): bigint {
  return applyBps(remaining, bps);
}
