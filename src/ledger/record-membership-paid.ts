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
  amountPaid: bigint;
  currency: string;
  paidAt: Date;
}

const DAY_MS = 86_400_000;

/**
 * `membership.paid`: a platform-funded reward (rail B only, no settlement) for the member's durable
 * `referredBy` referrer, at `MEMBERSHIP_REFERRAL_BPS` of the amount paid, converted at today's
 * `TOKEN_WEI_PER_MINOR_UNIT`. Keyed by `membershipReference` (the reward's order_reference and the
 * on-chain dedupe key); the same reference again is a duplicate, with different terms a 409.
 */
export async function recordMembershipPaid(
  trx: DbOrTx,
  config: Pick<Config, "MEMBERSHIP_REFERRAL_BPS" | "TOKEN_WEI_PER_MINOR_UNIT" | "ATTRIBUTION_WINDOW_DAYS">,
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
  const base = { membershipReference: event.membershipReference, memberId: event.memberId };
  // Orders and memberships share one reference space (the reward's unique order_reference and the
  // contract's keccak256(reference)): a new membership payment whose reference names an order is
  // refused before anything is written. One already recorded under it is answered below as before.
  const seen = await sql<{ is_order: boolean; is_membership: boolean }>`
    SELECT EXISTS (SELECT 1 FROM orders WHERE order_reference = ${event.membershipReference}) AS is_order,
           EXISTS (SELECT 1 FROM membership_payments WHERE membership_reference = ${event.membershipReference})
             AS is_membership`.execute(trx);
  if (seen.rows[0]?.is_order && !seen.rows[0]?.is_membership) {
    throw new AppError(
      "order_conflict",
      `reference ${event.membershipReference} already names an order; membership references must not reuse order references`,
      { details: { ...base, takenBy: "order" } },
    );
  }
  const inserted = await trx
    .insertInto("membership_payments")
    .values({
      membership_reference: event.membershipReference,
      member_id: event.memberId,
      amount_paid: event.amountPaid,
      currency: event.currency,
      paid_at: event.paidAt,
      terms_hash: termsHash,
      referrer_member_id: member.referred_by_member_id,
    })
    .onConflict((oc) => oc.column("membership_reference").doNothing())
    .returning("membership_reference")
    .executeTakeFirst();
  if (!inserted) {
    const previous = await trx
      .selectFrom("membership_payments")
      .select("terms_hash")
      .where("membership_reference", "=", event.membershipReference)
      .executeTakeFirstOrThrow();
    if (previous.terms_hash !== termsHash) {
      throw new AppError(
        "order_conflict",
        `membership ${event.membershipReference} was already paid with different terms`,
        { details: base },
      );
    }
    return { result: "duplicate", ...base };
  }

  await postJournal(trx, {
    event: "membership.paid",
    orderReference: event.membershipReference,
    postings: [
      { account: accounts.cash, asset: event.currency, amount: event.amountPaid },
      { account: accounts.membershipRevenue, asset: event.currency, amount: -event.amountPaid },
    ],
  });

  const referrer = member.referred_by_member_id;
  let reason: string | undefined;
  if (!referrer || !member.attributed_at) reason = "not_referred";
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
    orderReference: event.membershipReference,
    orderRefHash: orderRefHash(event.membershipReference),
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
      `reference ${event.membershipReference} already belongs to an order reward; membership references must not reuse order references`,
      { details: { ...base, takenBy: "order" } },
    );
  }
  return {
    result: "recorded",
    ...base,
    reward: { id: reward.id.toString(), status: reward.status, amountWei: reward.amount_wei },
  };
}
