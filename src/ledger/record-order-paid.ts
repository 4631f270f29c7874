import type { DbOrTx } from "../db/connect.js";
import type { FraudSignal, PaymentRail, SettlementBreakdownLine } from "../db/schema.js";
import { orderRefHash } from "../domain/order-ref.js";
import { computeOrderSettlement } from "../domain/settlement.js";
import { AppError } from "../errors.js";
import { hashJson } from "../lib/crypto.js";
import { type Actor, auditRow } from "./audit.js";
import { type CreateOrderInput, createOrderInTx } from "./create-order.js";
import { accounts, journalRows } from "./journal.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { createReward, type NewReward } from "./reward-changes.js";
import { insertRailA } from "./statements/insert-rail-a.js";
import { markOrderPaid, type PaidOrder } from "./statements/mark-order-paid.js";

export interface OrderPaidEvent {
  orderReference: string;
  amountPaid: bigint;
  currency: string;
  paymentRail: PaymentRail;
  paidAt: Date;
  order?: CreateOrderInput;
}

const DAY_MS = 86_400_000;

/**
 * `order.paid`: in the caller's transaction, marks the order paid and writes both rails — one
 * settlement and one sales assist per vendor (rail A) and one referral reward (rail B) — from the rates
 * snapshotted at checkout. A second delivery with the same terms changes nothing; different terms are
 * a 409. Every insert is keyed by a unique index, so even a concurrent path cannot write twice.
 */
export async function recordOrderPaid(
  trx: DbOrTx,
  config: Parameters<typeof createOrderInTx>[1],
  actor: Actor,
  event: OrderPaidEvent,
): Promise<WebhookOutcome> {
  if (event.order) {
    if (event.order.orderReference !== event.orderReference) {
      throw new AppError("validation_failed", "data.order.orderReference must equal data.orderReference");
    }
    await createOrderInTx(trx, config, actor, event.order, { now: event.paidAt });
  }
  const termsHash = paidTermsHash(event);
  // The order's row lock and the status move in one conditional update, with what both rails need;
  // under `first_order` the same statement decides whether this is still the buyer's first paid order.
  const order = await markOrderPaid(trx, { ...event, termsHash, scope: config.ATTRIBUTION_SCOPE });
  if (!order) return notPaidNow(trx, event, termsHash);
  const writes = paidOrderWrites(actor, event, order);
  const settlementCount = await insertRailA(trx, writes.railA);
  // Rail B: the referrer's clawback debt is netted from the reward before it can be minted.
  let reward: { id: bigint; status: string; amount_wei: string } | undefined;
  if (writes.reward) {
    reward = await createReward(trx, actor, "order.paid", {
      ...writes.reward,
      knownDebt: order.referrer_debt,
    });
    // One reward per reference: if the insert found one, it is a membership reward that took this
    // reference (memberships and orders share the contract's keccak256(reference) key). Never a silent
    // loss: refuse the payment (409) and roll the whole transaction back.
    if (!reward) await refuseTakenReference(trx, order.order_reference);
  }
  return paidOutcome(order, writes.mismatch, settlementCount, reward);
}

/** What a repeated payment must equal to be a duplicate (`orders.paid_event_hash`). */
export function paidTermsHash(
  event: Pick<OrderPaidEvent, "amountPaid" | "currency" | "paymentRail">,
): string {
  return hashJson({ amountPaid: event.amountPaid, currency: event.currency, paymentRail: event.paymentRail });
}

/** The answer (and stored webhook response) of a recorded payment. */
export function paidOutcome(
  order: PaidOrder,
  mismatch: boolean,
  settlements: number,
  reward: { id: bigint; status: string; amount_wei: string } | undefined,
): WebhookOutcome {
  return {
    result: "recorded",
    orderReference: order.order_reference,
    settlements,
    ...(order.referral_lost ? { reason: "not_first_order" } : {}),
    ...(mismatch ? { held: "amount_mismatch" } : {}),
    reward: reward ? { id: reward.id.toString(), status: reward.status, amountWei: reward.amount_wei } : null,
  };
}

/**
 * What a payment of `order` writes, not written yet: rail A (one settlement and one sales assist per
 * vendor, the journal, the audit entries) and the reward rail B creates (null when there is none).
 * Pure: shared by the one-event path above and the grouped one (record-order-paid-batch.ts).
 */
export function paidOrderWrites(
  actor: Actor,
  event: OrderPaidEvent,
  order: PaidOrder,
): { mismatch: boolean; railA: Parameters<typeof insertRailA>[1]; reward: NewReward | null } {
  // A payment that differs from the order total holds both rails until an admin resolves it.
  const mismatch = event.amountPaid !== order.gross_amount;
  const settlementStatus = mismatch ? "held" : "pending";

  // Rail A: one settlement (and one sales assist) per vendor, from the snapshotted lines.
  // Recomputed with the checkout snapshot (line rates, platform fee bps): the one rule in
  // domain/settlement.ts, deterministic, so the numbers equal what checkout answered.
  const lines = order.lines;
  const computed = computeOrderSettlement({
    lines: lines.map((line) => ({
      lineId: line.line_id,
      vendorId: line.vendor_id,
      productId: line.product_id,
      quantity: line.quantity,
      unitAmount: BigInt(line.unit_amount),
      commissionBps: line.commission_bps,
      rateSource: line.rate_source,
    })),
    vendors: [...new Map(lines.map((line) => [line.vendor_id, line.platform_fee_bps])).entries()].map(
      ([vendorId, platformFeeBps]) => ({ vendorId, platformFeeBps }),
    ),
    shippingAmount: order.shipping_amount,
    discountAmount: order.discount_amount,
    referral: order.referral_applied,
  });
  if (computed.referralCommission !== order.referral_commission) {
    throw new AppError(
      "internal",
      `order ${order.order_reference}: recomputed commission differs from the checkout snapshot`,
    );
  }
  const referred = order.referral_applied && order.referrer_member_id && order.referral_code;
  const settlements = computed.vendors.map((vendor) => ({
    order_reference: order.order_reference,
    vendor_id: vendor.vendorId,
    currency: order.currency,
    merchandise: vendor.merchandise.toString(),
    discount: vendor.discount.toString(),
    shipping: vendor.shipping.toString(),
    gross: vendor.gross.toString(),
    platform_fee: vendor.platformFee.toString(),
    referral_commission: vendor.referralCommission.toString(),
    net: vendor.net.toString(),
    status: settlementStatus,
    platform_fee_bps: lines.find((line) => line.vendor_id === vendor.vendorId)?.platform_fee_bps ?? 0,
    breakdown: {
      lines: vendor.lines.map(
        (line): SettlementBreakdownLine => ({
          lineId: line.lineId,
          productId: line.productId,
          quantity: line.quantity,
          unitAmount: line.unitAmount.toString(),
          subtotal: line.subtotal.toString(),
          discount: line.discount.toString(),
          commissionBase: line.commissionBase.toString(),
          commissionBps: line.commissionBps,
          rateSource: line.rateSource,
          referralCommission: line.referralCommission.toString(),
        }),
      ),
    },
    scheduled_for: new Date(
      event.paidAt.getTime() + (order.hold_days[vendor.vendorId] ?? 0) * DAY_MS,
    ).toISOString(),
  }));
  const railA = {
    settlements,
    assists: referred
      ? computed.vendors.map((vendor) => ({
          order_reference: order.order_reference,
          vendor_id: vendor.vendorId,
          referrer_member_id: order.referrer_member_id!,
          referral_code: order.referral_code!,
          referral_commission: vendor.referralCommission.toString(),
        }))
      : [],
    audit: [
      auditRow(
        actor,
        "order.paid",
        { type: "order", id: order.order_reference },
        { status: "created" },
        {
          status: "paid",
          amountPaid: event.amountPaid,
          paymentRail: event.paymentRail,
          ...(order.referral_lost ? { referralApplied: false, attributionReason: "not_first_order" } : {}),
        },
      ),
      // Subject ids are filled with the inserted settlement's id (matched by vendor).
      ...computed.vendors.map((vendor) =>
        auditRow(actor, "settlement.created", { type: "settlement", id: vendor.vendorId }, null, {
          orderReference: order.order_reference,
          vendorId: vendor.vendorId,
          status: settlementStatus,
          ...(mismatch ? { holdReason: "amount_mismatch" } : {}),
          gross: vendor.gross,
          referralCommission: vendor.referralCommission,
          net: vendor.net,
        }),
      ),
    ],
    // The journal: the payment in, split between what each vendor is owed, the platform fee, the
    // withheld referral commission, and any difference between the payment and the order total.
    journal: journalRows({
      event: "order.paid",
      orderReference: order.order_reference,
      postings: [
        { account: accounts.cash, asset: order.currency, amount: event.amountPaid },
        ...computed.vendors.flatMap((vendor) => [
          { account: accounts.vendorPayable(vendor.vendorId), asset: order.currency, amount: -vendor.net },
          { account: accounts.platformFeeRevenue, asset: order.currency, amount: -vendor.platformFee },
          {
            account: accounts.referralCommissionPayable,
            asset: order.currency,
            amount: -vendor.referralCommission,
          },
        ]),
        {
          account: accounts.paymentDifference,
          asset: order.currency,
          amount: computed.orderGross - event.amountPaid,
        },
      ],
    }),
  };

  // Rail B: one reward per order, its basis equal to the sum of the vendors' referral commissions;
  // the referrer's clawback debt is netted from it before it can be minted.
  let reward: NewReward | null = null;
  if (order.referral_applied && order.referrer_member_id && order.referral_commission > 0n) {
    const signals: FraudSignal[] = [];
    if (mismatch) {
      signals.push({
        code: "amount_mismatch",
        detail: `paid ${event.amountPaid} but the order total is ${order.gross_amount} ${order.currency}`,
      });
    }
    const status =
      signals.length > 0 ? "held" : event.paymentRail === "credit" ? "approved" : "pending_approval";
    reward = {
      orderReference: order.order_reference,
      orderRefHash: orderRefHash(order.order_reference),
      source: "order",
      referrer: order.referrer_member_id,
      buyer: order.buyer_member_id,
      wallet: order.referrer_wallet,
      currency: order.currency,
      fiatBasis: order.referral_commission,
      weiPerMinorUnit: order.wei_per_minor_unit,
      paymentRail: event.paymentRail,
      status,
      signals,
      approvedBy: "auto:credit_payment",
    };
  }
  return { mismatch, railA, reward };
}

async function refuseTakenReference(trx: DbOrTx, orderReference: string): Promise<never> {
  const taken = await trx
    .selectFrom("referral_rewards")
    .select("source")
    .where("order_reference", "=", orderReference)
    .executeTakeFirst();
  throw new AppError(
    "order_conflict",
    `reference ${orderReference} already belongs to a ${taken?.source ?? "another"} reward: orders and memberships must not share references; nothing was recorded`,
    { details: { orderReference, takenBy: taken?.source ?? null } },
  );
}

/**
 * The payment did not move the order from `created`: it is unknown (422, not recorded, so the
 * provider's retry succeeds after POST /v1/orders), already paid (a duplicate with the same terms, a
 * 409 with different ones), or in another currency (409).
 */
async function notPaidNow(trx: DbOrTx, event: OrderPaidEvent, termsHash: string): Promise<WebhookOutcome> {
  const order = await trx
    .selectFrom("orders")
    .select(["order_reference", "status", "currency", "paid_event_hash"])
    .where("order_reference", "=", event.orderReference)
    .executeTakeFirst();
  if (!order) {
    throw new AppError(
      "unprocessable",
      `order ${event.orderReference} is unknown: POST /v1/orders first or include data.order`,
      {
        details: { orderReference: event.orderReference },
      },
    );
  }
  if (order.status !== "created") {
    if (order.paid_event_hash !== termsHash) {
      throw new AppError(
        "order_conflict",
        `order ${order.order_reference} was already paid with different terms`,
        {
          details: { orderReference: order.order_reference },
        },
      );
    }
    return { result: "duplicate", orderReference: order.order_reference };
  }
  throw new AppError(
    "order_conflict",
    `order ${order.order_reference} is in ${order.currency}, payment is in ${event.currency}`,
  );
}
