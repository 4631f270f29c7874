import type { Config } from "../config.js";
import {
  type CheckoutAttribution,
  decideCheckoutAttribution,
  type ResolvedReferralCode,
} from "../domain/attribution.js";
import { applyCoupon, checkCoupon } from "../domain/coupons.js";
import type { CheckoutAttributionSource, CouponStatus, RateSource } from "../domain/enums.js";
import { pickTierRate, resolveCommissionBps } from "../domain/rates.js";
import { AppError } from "../errors.js";
import type { CheckoutContext } from "./statements/read-checkout-context.js";

/** The part of a checkout request the terms are decided from. */
export interface TermsInput {
  orderReference: string;
  buyerMemberId?: string | null;
  refCode?: string | null;
  clickId?: string | null;
  couponCode?: string | null;
  /** The forwarded first-touch cookie's code (context, not terms). */
  cookieCode?: string | null;
  currency: string;
  lines: Array<{
    lineId: string;
    vendorId: string;
    productId?: string | null;
    quantity: number;
    unitAmount: bigint;
  }>;
}

export type TermsConfig = Pick<
  Config,
  | "REFERRAL_COMMISSION_BPS"
  | "REFERRAL_COMMISSION_MAX_BPS"
  | "ATTRIBUTION_WINDOW_DAYS"
  | "ATTRIBUTION_SCOPE"
  | "COUPON_PRECEDENCE"
>;

/** An attribution decision, or an explicit code that resolves to nothing. */
export type CheckoutDecision = CheckoutAttribution | { applied: false; reason: "unknown_code" };

/** What checkout decided: attribution, the coupon's fate, and every line's snapshotted rate. */
export interface CheckoutTerms {
  decision: CheckoutDecision;
  /** The attribution the order would have without the coupon (what may become the buyer's referredBy). */
  base: CheckoutDecision;
  coupon: { code: string | null; status: CouponStatus } | null;
  lines: Array<{
    lineId: string;
    vendorId: string;
    productId: string | null;
    quantity: number;
    unitAmount: bigint;
    commissionBps: number;
    rateSource: RateSource;
    rateTier: string | null;
  }>;
}

/** `orders.attribution_source` as the API names it. */
export function attributionSourceView(
  source: CheckoutAttributionSource | null,
): "coupon" | "referred_by" | "cookie" | "code" | null {
  return source === "explicit_code" ? "code" : source;
}

/**
 * Attribution (referredBy → explicit code → cookie, then the coupon by COUPON_PRECEDENCE: see
 * domain/coupons.ts), then the rates, which depend on who is credited: product override → the
 * credited referrer's tier (this vendor's program, else platform-wide) → vendor → platform, clamped.
 * `couponExhausted`: the redemption was refused by the database since the context was read.
 */
export function decideCheckoutTerms(
  context: CheckoutContext,
  config: TermsConfig,
  input: TermsInput,
  now: Date,
  couponExhausted = false,
): CheckoutTerms {
  const buyer = context.buyer;
  const buyerId = buyer?.member_id ?? input.buyerMemberId ?? `guest:${input.orderReference}`;
  const known = (code: ResolvedReferralCode | "unknown" | null) => (code === "unknown" ? null : code);
  const explicitCode = context.resolve(input.refCode ?? input.clickId ?? null);
  const decided = decideCheckoutAttribution({
    buyer: {
      memberId: buyerId,
      wallet: buyer?.wallet_address ?? null,
      referredByMemberId: buyer?.referred_by_member_id ?? null,
      referredByCode: buyer?.referred_by_code ?? null,
      attributedAt: buyer?.attributed_at ?? null,
      referredByWallet: buyer?.referred_by_wallet ?? null,
    },
    // An unknown explicit code does not hide a valid first-touch cookie; it only names the reason.
    explicitCode: known(explicitCode),
    cookieCode: known(context.resolve(input.cookieCode)),
    now,
    windowDays: config.ATTRIBUTION_WINDOW_DAYS,
    scope: config.ATTRIBUTION_SCOPE,
    buyerPaidOrders: context.buyerPaidOrders,
  });
  const base: CheckoutDecision =
    !decided.applied && decided.reason === "no_referral" && explicitCode === "unknown"
      ? { applied: false, reason: "unknown_code" }
      : decided;

  const found = context.coupon(input.couponCode);
  const verdict =
    found === null
      ? null
      : couponExhausted && found !== "unknown"
        ? ({ ok: false, status: "coupon_exhausted" } as const)
        : checkCoupon(
            found,
            { memberId: buyerId, wallet: buyer?.wallet_address ?? null },
            input.currency,
            now,
          );
  const decision = applyCoupon({
    base,
    coupon: verdict,
    precedence: config.COUPON_PRECEDENCE,
    notFirstOrder: config.ATTRIBUTION_SCOPE === "first_order" && context.buyerPaidOrders > 0,
    now,
  });
  const coupon =
    verdict === null
      ? null
      : {
          code: found === "unknown" ? null : found!.code,
          status: verdict.ok ? ("redeemed" as const) : verdict.status,
        };

  const referrer = decision.applied ? decision.referrerMemberId : null;
  const referrerTiers = context.memberTiers.filter((row) => row.member_id === referrer);
  const vendorById = new Map(context.vendors.map((vendor) => [vendor.vendor_id, vendor]));
  const productById = new Map(context.products.map((product) => [product.product_id, product]));
  const lines = input.lines.map((line) => {
    const product = line.productId ? productById.get(line.productId) : undefined;
    if (product && product.vendor_id !== line.vendorId) {
      throw new AppError(
        "unprocessable",
        `product ${product.product_id} belongs to vendor ${product.vendor_id}, not ${line.vendorId}`,
      );
    }
    const rate = resolveCommissionBps({
      productBps: product?.referral_commission_bps,
      tier: pickTierRate(referrerTiers, context.tierRates, line.vendorId),
      vendorBps: vendorById.get(line.vendorId)?.referral_commission_bps,
      platformDefaultBps: config.REFERRAL_COMMISSION_BPS,
      maxBps: config.REFERRAL_COMMISSION_MAX_BPS,
    });
    return {
      lineId: line.lineId,
      vendorId: line.vendorId,
      productId: line.productId ?? null,
      quantity: line.quantity,
      unitAmount: line.unitAmount,
      commissionBps: rate.bps,
      rateSource: rate.source,
      rateTier: rate.tier ?? null,
    };
  });
  return { decision, base, coupon, lines };
}
