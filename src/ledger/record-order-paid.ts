import type { DbOrTx } from "../db/connect.js";
import type { FraudSignal, PaymentRail, SettlementBreakdownLine } from "../db/schema.js";
import { orderRefHash } from "../domain/order-ref.js";
import { computeOrderSettlement } from "../domain/settlement.js";
import { AppError } from "../errors.js";
import { hashJson } from "../lib/crypto.js";
import { type Actor, audit } from "./audit.js";
import { type CreateOrderInput, createOrderInTx } from "./create-order.js";
import { accounts, postJournal } from "./journal.js";
import type { WebhookOutcome } from "./record-webhook.js";
import { createReward } from "./reward-changes.js";

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
  const order = await trx
    .selectFrom("orders")
    .selectAll()
    .where("order_reference", "=", event.orderReference)
    .forUpdate()
    .executeTakeFirst();
  if (!order) {
    // Not recorded: the transaction rolls back, so the provider's retry (after POST /v1/orders) succeeds.
    throw new AppError(
      "unprocessable",
      `order ${event.orderReference} is unknown: POST /v1/orders first or include data.order`,
      {
        details: { orderReference: event.orderReference },
      },
    );
  }
  const termsHash = hashJson({
    amountPaid: event.amountPaid,
    currency: event.currency,
    paymentRail: event.paymentRail,
  });
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
  if (event.currency !== order.currency) {
    throw new AppError(
      "order_conflict",
      `order ${order.order_reference} is in ${order.currency}, payment is in ${event.currency}`,
    );
  }

  await trx
    .updateTable("orders")
    .set({
      status: "paid",
      payment_rail: event.paymentRail,
      amount_paid: event.amountPaid,
      paid_at: event.paidAt,
      paid_event_hash: termsHash,
      updated_at: new Date(),
    })
    .where("order_reference", "=", order.order_reference)
    .execute();
  await audit(
    trx,
    actor,
    "order.paid",
    { type: "order", id: order.order_reference },
    { status: order.status },
    {
      status: "paid",
      amountPaid: event.amountPaid,
      paymentRail: event.paymentRail,
    },
  );

  // Rail A: one settlement (and one sales assist) per vendor, from the snapshotted lines.
  const lines = await trx
    .selectFrom("order_lines")
    .selectAll()
    .where("order_reference", "=", order.order_reference)
    .orderBy("position")
    .execute();
  // Recomputed with the checkout snapshot (line rates, platform fee bps): the one rule in
  // domain/settlement.ts, deterministic, so the numbers equal what checkout answered.
  const computed = computeOrderSettlement({
    lines: lines.map((line) => ({
      lineId: line.line_id,
      vendorId: line.vendor_id,
      productId: line.product_id,
      quantity: line.quantity,
      unitAmount: line.unit_amount,
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
  const vendors = await trx
    .selectFrom("vendors")
    .select(["vendor_id", "hold_days"])
    .where(
      "vendor_id",
      "in",
      computed.vendors.map((vendor) => vendor.vendorId),
    )
    .execute();
  const holdDays = new Map(vendors.map((vendor) => [vendor.vendor_id, vendor.hold_days]));

  let settlementCount = 0;
  for (const vendor of computed.vendors) {
    const vendorId = vendor.vendorId;
    const { merchandise, discount, shipping, gross, platformFee, referralCommission } = vendor;
    const platformFeeBps = lines.find((line) => line.vendor_id === vendorId)?.platform_fee_bps ?? 0;
    const breakdown: SettlementBreakdownLine[] = vendor.lines.map((line) => ({
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
    }));
    const inserted = await trx
      .insertInto("settlements")
      .values({
        order_reference: order.order_reference,
        vendor_id: vendorId,
        currency: order.currency,
        merchandise,
        discount,
        shipping,
        gross,
        platform_fee: platformFee,
        referral_commission: referralCommission,
        net: vendor.net,
        platform_fee_bps: platformFeeBps,
        breakdown: JSON.stringify({ lines: breakdown }),
        scheduled_for: new Date(event.paidAt.getTime() + (holdDays.get(vendorId) ?? 0) * DAY_MS),
      })
      .onConflict((oc) => oc.constraint("settlements_order_vendor_unique").doNothing())
      .returning(["id", "gross", "net", "referral_commission"])
      .executeTakeFirst();
    if (inserted) {
      settlementCount++;
      await audit(trx, actor, "settlement.created", { type: "settlement", id: inserted.id }, null, {
        orderReference: order.order_reference,
        vendorId,
        status: "pending",
        gross: inserted.gross,
        referralCommission: inserted.referral_commission,
        net: inserted.net,
      });
    }
    if (order.referral_applied && order.referrer_member_id && order.referral_code) {
      await trx
        .insertInto("erp_sales_assists")
        .values({
          order_reference: order.order_reference,
          vendor_id: vendorId,
          referrer_member_id: order.referrer_member_id,
          referral_code: order.referral_code,
          referral_commission: referralCommission,
        })
        .onConflict((oc) => oc.constraint("erp_sales_assists_order_vendor_unique").doNothing())
        .execute();
    }
  }

  // The journal: the payment in, split between what each vendor is owed, the platform fee, the
  // withheld referral commission, and any difference between the payment and the order total.
  await postJournal(trx, {
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
  });

  // Rail B: one reward per order, its basis equal to the sum of the vendors' referral commissions;
  // the referrer's clawback debt is netted from it before it can be minted.
  let reward: { id: bigint; status: string; amount_wei: string } | undefined;
  if (order.referral_applied && order.referrer_member_id && order.referral_commission > 0n) {
    const weiPerMinor = BigInt(order.wei_per_minor_unit);
    const signals: FraudSignal[] = [];
    if (event.amountPaid !== order.gross_amount) {
      signals.push({
        code: "amount_mismatch",
        detail: `paid ${event.amountPaid} but the order total is ${order.gross_amount} ${order.currency}`,
      });
    }
    const referrer = await trx
      .selectFrom("members")
      .select("wallet_address")
      .where("member_id", "=", order.referrer_member_id)
      .executeTakeFirstOrThrow();
    const status =
      signals.length > 0 ? "held" : event.paymentRail === "credit" ? "approved" : "pending_approval";
    reward = await createReward(trx, actor, "order.paid", {
      orderReference: order.order_reference,
      orderRefHash: orderRefHash(order.order_reference),
      source: "order",
      referrer: order.referrer_member_id,
      buyer: order.buyer_member_id,
      wallet: referrer.wallet_address,
      currency: order.currency,
      fiatBasis: order.referral_commission,
      weiPerMinorUnit: weiPerMinor,
      paymentRail: event.paymentRail,
      status,
      signals,
      approvedBy: "auto:credit_payment",
    });
  }

  return {
    result: "recorded",
    orderReference: order.order_reference,
    settlements: settlementCount,
    reward: reward ? { id: reward.id.toString(), status: reward.status, amountWei: reward.amount_wei } : null,
  };
}
