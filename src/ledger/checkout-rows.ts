import { computeOrderSettlement } from "../domain/settlement.js";
import { type Actor, auditRow } from "./audit.js";
import type { CheckoutTerms } from "./checkout-terms.js";
import type { CreateOrderInput } from "./create-order.js";
import type { InsertOrderInput } from "./statements/insert-order.js";
import type { CheckoutContext } from "./statements/read-checkout-context.js";

/** The order's settlement under the decided terms (the one rule in domain/settlement.ts). */
export function settle(input: CreateOrderInput, terms: CheckoutTerms, context: CheckoutContext) {
  return computeOrderSettlement({
    lines: terms.lines,
    vendors: context.vendors.map((vendor) => ({
      vendorId: vendor.vendor_id,
      platformFeeBps: vendor.platform_fee_bps,
    })),
    shippingAmount: input.shippingAmount,
    discountAmount: input.discountAmount,
    referral: terms.decision.applied,
  });
}

/** The rows statement 2 writes for the decided terms. */
export function orderRows(
  input: CreateOrderInput,
  terms: CheckoutTerms,
  context: CheckoutContext,
  extra: {
    requestHash: string;
    buyerIpHash: string | null;
    weiPerMinorUnit: bigint;
    actor: Actor;
    now: Date;
    couponRetried?: boolean;
  },
): InsertOrderInput {
  const { decision, base } = terms;
  const { actor } = extra;
  const settlement = settle(input, terms, context);
  const merchandise = settlement.vendors.reduce((sum, vendor) => sum + vendor.merchandise, 0n);
  // Keep the caller's line order for positions.
  const positionOf = new Map(input.lines.map((line, index) => [line.lineId, index]));
  const tierOf = new Map(terms.lines.map((line) => [line.lineId, line.rateTier]));
  const vendorFee = new Map(context.vendors.map((vendor) => [vendor.vendor_id, vendor.platform_fee_bps]));
  const lineRows = settlement.vendors.flatMap((vendor) =>
    vendor.lines.map((line) => ({
      order_reference: input.orderReference,
      line_id: line.lineId,
      position: positionOf.get(line.lineId) ?? 0,
      vendor_id: vendor.vendorId,
      product_id: line.productId,
      quantity: line.quantity,
      unit_amount: line.unitAmount.toString(),
      subtotal: line.subtotal.toString(),
      discount: line.discount.toString(),
      commission_base: line.commissionBase.toString(),
      commission_bps: line.commissionBps,
      rate_source: line.rateSource,
      rate_tier: tierOf.get(line.lineId) ?? null,
      platform_fee_bps: vendorFee.get(vendor.vendorId) ?? 0,
      referral_commission: line.referralCommission.toString(),
    })),
  );
  // First touch holds everywhere: an attribution made here (code or cookie) becomes the buyer's
  // durable referredBy, so a later order cannot be credited to someone else. It is the attribution
  // the order has WITHOUT its coupon: a coupon credits one order and never claims the buyer.
  const durable =
    base.applied && base.source !== "referred_by" && base.source !== "coupon" && input.buyerMemberId
      ? {
          referrerMemberId: base.referrerMemberId,
          code: base.code,
          source:
            base.source === "cookie"
              ? ("cookie" as const)
              : input.refCode
                ? ("ref_code" as const)
                : ("click_id" as const),
          attributedAt: base.attributedAt,
        }
      : null;
  return {
    buyer: input.buyerMemberId ? { memberId: input.buyerMemberId, durable } : null,
    coupon:
      terms.coupon?.status === "redeemed" && terms.coupon.code
        ? { code: terms.coupon.code, now: extra.now }
        : null,
    order: {
      order_reference: input.orderReference,
      request_hash: extra.requestHash,
      buyer_member_id: input.buyerMemberId ?? null,
      currency: input.currency,
      referral_applied: decision.applied,
      referrer_member_id: decision.applied ? decision.referrerMemberId : null,
      referral_code: decision.applied ? decision.code : null,
      attribution_source: decision.applied ? decision.source : null,
      attribution_reason: decision.applied ? null : decision.reason,
      merchandise_amount: merchandise.toString(),
      shipping_amount: input.shippingAmount.toString(),
      discount_amount: input.discountAmount.toString(),
      gross_amount: settlement.orderGross.toString(),
      referral_commission: settlement.referralCommission.toString(),
      wei_per_minor_unit: extra.weiPerMinorUnit.toString(),
      buyer_ip_hash: extra.buyerIpHash,
      coupon_code: terms.coupon?.code ?? null,
      coupon_status: terms.coupon?.status ?? null,
    },
    lines: lineRows,
    audit: [
      auditRow(actor, "order.created", { type: "order", id: input.orderReference }, null, {
        referralApplied: decision.applied,
        referralCode: decision.applied ? decision.code : null,
        coupon: terms.coupon,
        // The redemption was refused by the conditional update after the read allowed it (a race).
        ...(extra.couponRetried ? { couponRetried: true } : {}),
        gross: settlement.orderGross,
        referralCommission: settlement.referralCommission,
      }),
      ...(durable
        ? [
            auditRow(actor, "member.attributed", { type: "member", id: input.buyerMemberId! }, null, {
              code: durable.code,
              memberId: durable.referrerMemberId,
              source: durable.source,
              attributedAt: durable.attributedAt.toISOString(),
              orderReference: input.orderReference,
            }),
          ]
        : []),
    ],
  };
}
