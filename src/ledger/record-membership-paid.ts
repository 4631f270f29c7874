import { sql } from "kysely";
import type { Config } from "../config.js";
import type { DbOrTx } from "../db/connect.js";
import { applyBps } from "../domain/money.js";
import { orderRefHash } from "../domain/order-ref.js";
import { AppError } from "../errors.js";
import { hashJson } from "../lib/crypto.js";
import type { Actor } from "./audit.js";
import { accounts, postJournal } from "./journal.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { createReward } from "./reward-changes.js";

export interface MembershipPaidEvent {
  memberId: string;
  membershipReference: string;
  /** 1 = the first payment (default); n > 1 = the n-th period, a renewal. */
  period?: number;
  amountPaid: bigint;
  currency: string;
  paidAt: Date;
}

const DAY_MS = 86_400_000;
/** `membership_payments.membership_reference` (0002_ledger.sql CHECK). */
const MEMBERSHIP_REFERENCE_MAX = 128;

/**
 * `membership.paid`: a platform-funded reward (rail B only, no settlement) for the member's durable
 * `referredBy` referrer, at `MEMBERSHIP_REFERRAL_BPS` of the amount paid, converted at today's
 * `TOKEN_WEI_PER_MINOR_UNIT`. Keyed by `membershipReference` (the reward's order_reference and the
 * on-chain dedupe key); the same reference again is a duplicate, with different terms a 409.
 *
 * Renewals (`period` n > 1) are payments of their own under `membershipReference#n` (payment row,
 * journal, reward and on-chain key), for the referrer of period 1 — who is rewarded again while the
 * renewal is paid within RECURRING_MONTHS months of period 1 (0: period 1 only) and period 1 itself
 * was rewarded. Period 1 must be recorded first (422 until it is).
 */
export async function recordMembershipPaid(
  trx: DbOrTx,
  config: Pick<
    Config,
    "MEMBERSHIP_REFERRAL_BPS" | "TOKEN_WEI_PER_MINOR_UNIT" | "ATTRIBUTION_WINDOW_DAYS" | "RECURRING_MONTHS"
  >,
  actor: Actor,
  event: MembershipPaidEvent,
): Promise<WebhookOutcome> {
  const member = await trx
    .selectFrom("members")
    .select(["member_id", "referred_by_member_id", "attributed_at"])
    .where("member_id", "=", event.memberId)
    .executeTakeFirst();
  if (!member) {
    throw new AppError(
      "unprocessable",
      `member ${event.memberId} is unknown: POST /v1/members first, then retry`,
      {
        details: { memberId: event.memberId },
      },
    );
  }
  const weiPerMinorUnit = config.TOKEN_WEI_PER_MINOR_UNIT[event.currency];
  if (weiPerMinorUnit === undefined) {
    throw new AppError(
      "unprocessable",
      `no TOKEN_WEI_PER_MINOR_UNIT configured for currency ${event.currency}`,
    );
  }
  const termsHash = hashJson({
    memberId: event.memberId,
    amountPaid: event.amountPaid,
    currency: event.currency,
  });
  const period = event.period ?? 1;
  const reference = membershipPaymentReference(event.membershipReference, period);
  if (reference.length > MEMBERSHIP_REFERENCE_MAX) {
    throw new AppError(
      "validation_failed",
      `membershipReference#period must fit ${MEMBERSHIP_REFERENCE_MAX} characters`,
      { details: { field: "data.membershipReference" } },
    );
  }
  const base = {
    membershipReference: event.membershipReference,
    memberId: event.memberId,
    ...(period > 1 ? { period, paymentReference: reference } : {}),
  };
  // Orders and memberships share one reference space (the reward's unique order_reference and the
  // contract's keccak256(reference)): a new membership payment whose reference names an order is
  // refused before anything is written. One already recorded under it is answered below as before.
  const seen = await sql<{ is_order: boolean; is_membership: boolean }>`
    SELECT EXISTS (SELECT 1 FROM orders WHERE order_reference = ${reference}) AS is_order,
           EXISTS (SELECT 1 FROM membership_payments WHERE membership_reference = ${reference})
             AS is_membership`.execute(trx);
  if (seen.rows[0]?.is_order && !seen.rows[0]?.is_membership) {
    throw new AppError(
      "order_conflict",
      `reference ${reference} already names an order; membership references must not reuse order references`,
      { details: { ...base, takenBy: "order" } },
    );
  }
  const renewal = period > 1 ? await renewalOf(trx, config, event) : null;
  const inserted = await trx
    .insertInto("membership_payments")
    .values({
      membership_reference: reference,
      membership_id: event.membershipReference,
      period,
      referral_bps: config.MEMBERSHIP_REFERRAL_BPS,
      member_id: event.memberId,
      amount_paid: event.amountPaid,
      currency: event.currency,
      paid_at: event.paidAt,
      terms_hash: termsHash,
      referrer_member_id: renewal ? renewal.referrer : member.referred_by_member_id,
    })
    .onConflict((oc) => oc.column("membership_reference").doNothing())
    .returning("membership_reference")
    .executeTakeFirst();
  if (!inserted) {
    const previous = await trx
      .selectFrom("membership_payments")
      .select("terms_hash")
      .where("membership_reference", "=", reference)
      .executeTakeFirstOrThrow();
    if (previous.terms_hash !== termsHash) {
      throw new AppError("order_conflict", `membership ${reference} was already paid with different terms`, {
        details: base,
      });
    }
    return { result: "duplicate", ...base };
  }

  await postJournal(trx, {
    event: "membership.paid",
    orderReference: reference,
    postings: [
      { account: accounts.cash, asset: event.currency, amount: event.amountPaid },
      { account: accounts.membershipRevenue, asset: event.currency, amount: -event.amountPaid },
    ],
  });

  const referrer = renewal ? renewal.referrer : member.referred_by_member_id;
  let reason: string | undefined;
  if (renewal) reason = renewal.reason;
  else if (!referrer || !member.attributed_at) reason = "not_referred";
  else if (
    event.paidAt.getTime() - member.attributed_at.getTime() >
    config.ATTRIBUTION_WINDOW_DAYS * DAY_MS
  ) {
    reason = "attribution_expired";
  }
  const fiatBasis = applyBps(event.amountPaid, config.MEMBERSHIP_REFERRAL_BPS);
  if (!reason && fiatBasis === 0n) reason = "zero_reward";
  if (reason || !referrer) return { result: "recorded", ...base, reward: null, reason };

  const wallet = await trx
    .selectFrom("members")
    .select("wallet_address")
    .where("member_id", "=", referrer)
    .executeTakeFirstOrThrow();
  const reward = await createReward(trx, actor, "membership.paid", {
    orderReference: reference,
    orderRefHash: orderRefHash(reference),
    source: "membership",
    referrer,
    buyer: event.memberId,
    wallet: wallet.wallet_address,
    currency: event.currency,
    fiatBasis,
    weiPerMinorUnit,
    paymentRail: "card",
    status: "pending_approval",
    signals: [],
  });
  // The insert found a reward under this reference: an order paid concurrently took it (or one from
  // before the reference check). Refuse (409), the whole transaction rolls back — never `reward: null`.
  if (!reward) {
    throw new AppError(
      "order_conflict",
      `reference ${reference} already belongs to an order reward; membership references must not reuse order references`,
      { details: { ...base, takenBy: "order" } },
    );
  }
  return {
    result: "recorded",
    ...base,
    reward: { id: reward.id.toString(), status: reward.status, amountWei: reward.amount_wei },
  };
}

/** The payment (and reward) reference of a membership's period: the reference itself for period 1. */
export function membershipPaymentReference(membershipReference: string, period: number): string {
  return period > 1 ? `${membershipReference}#${period}` : membershipReference;
}

/** `months` calendar months after `from` (UTC), clamped to the month's last day. */
function addMonths(from: Date, months: number): Date {
  const to = new Date(from.getTime());
  const day = to.getUTCDate();
  to.setUTCDate(1);
  to.setUTCMonth(to.getUTCMonth() + months);
  const last = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() + 1, 0)).getUTCDate();
  to.setUTCDate(Math.min(day, last));
  return to;
}

/**
 * A renewal's referrer (period 1's) and why it is not rewarded, if it is not: RECURRING_MONTHS = 0
 * (`recurring_disabled`), paid after the window (`recurring_window_closed`), or period 1 was not
 * rewarded, or its reward was rejected (`first_payment_not_rewarded`). Period 1 must be recorded, for the same member.
 */
async function renewalOf(
  trx: DbOrTx,
  config: Pick<Config, "RECURRING_MONTHS">,
  event: MembershipPaidEvent,
): Promise<{ referrer: string | null; reason: string | undefined }> {
  const first = await trx
    .selectFrom("membership_payments as p")
    .leftJoin("referral_rewards as r", (join) =>
      join
        .onRef("r.order_reference", "=", "p.membership_reference")
        .on("r.source", "=", "membership")
        .on("r.status", "<>", "rejected"),
    )
    .select(["p.member_id", "p.paid_at", "p.referrer_member_id", "r.id as reward_id"])
    .where("p.membership_reference", "=", event.membershipReference)
    .where("p.period", "=", 1)
    .executeTakeFirst();
  const details = { membershipReference: event.membershipReference, period: event.period };
  if (!first) {
    throw new AppError(
      "unprocessable",
      `period 1 of membership ${event.membershipReference} is not recorded; nothing was recorded, retry after it`,
      { details },
    );
  }
  if (first.member_id !== event.memberId) {
    throw new AppError(
      "order_conflict",
      `membership ${event.membershipReference} belongs to member ${first.member_id}, not ${event.memberId}`,
      { details },
    );
  }
  const referrer = first.referrer_member_id;
  if (config.RECURRING_MONTHS === 0) return { referrer, reason: "recurring_disabled" };
  if (event.paidAt.getTime() > addMonths(first.paid_at, config.RECURRING_MONTHS).getTime()) {
    return { referrer, reason: "recurring_window_closed" };
  }
  if (!referrer || first.reward_id === null) return { referrer, reason: "first_payment_not_rewarded" };
  return { referrer, reason: undefined };
}
