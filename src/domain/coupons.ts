import type { CheckoutAttribution } from "./attribution.js";
import type { CouponPrecedence, CouponStatus } from "./enums.js";

/**
 * Coupon rules at checkout. A coupon is a code tied to a referrer that the buyer types; the host
 * applies the discount, Twinrail records the coupon on the order, counts the redemption and credits
 * the owner. Pure decisions over rows already loaded; the redemption itself is a conditional UPDATE
 * (statements/insert-order.ts) that can still refuse (`coupon_exhausted`) under concurrency.
 *
 * Precedence (COUPON_PRECEDENCE), when the coupon's owner and the referrer the order would otherwise
 * have (the buyer's durable `referredBy`, an explicit code, the first-touch cookie) differ:
 * - `coupon` (default, what most affiliate platforms do): the coupon's owner is credited for this
 *   order;
 * - `referrer`: the other referrer keeps the order; the coupon is still redeemed (its discount was
 *   valid), its owner is not credited.
 * Either way the buyer's first-touch `referredBy` is never changed by a coupon: a coupon credits one
 * order, it does not claim the buyer.
 */

/** A coupon as checkout reads it. */
export interface CheckoutCoupon {
  code: string;
  ownerMemberId: string;
  ownerWallet: string | null;
  active: boolean;
  expiresAt: Date | null;
  maxRedemptions: number | null;
  redemptions: number;
  /** Set only for fixed-amount coupons: the currency the amount is in. */
  currency: string | null;
}

function sameWallet(a: string | null | undefined, b: string | null | undefined): boolean {
  return !!a && !!b && a.toLowerCase() === b.toLowerCase();
}

/**
 * Whether a coupon can be redeemed by this buyer now: known, active, not expired, in the order's
 * currency (fixed-amount coupons), not the buyer's own (same member or same wallet), and — as last
 * read — not used up. Checks run in that order; the first failure names the status.
 */
export function checkCoupon(
  coupon: CheckoutCoupon | "unknown",
  buyer: { memberId: string; wallet: string | null },
  orderCurrency: string,
  now: Date,
): { ok: true; coupon: CheckoutCoupon } | { ok: false; status: Exclude<CouponStatus, "redeemed"> } {
  if (coupon === "unknown") return { ok: false, status: "unknown_coupon" };
  if (!coupon.active) return { ok: false, status: "inactive_coupon" };
  if (coupon.expiresAt && coupon.expiresAt.getTime() <= now.getTime()) {
    return { ok: false, status: "expired_coupon" };
  }
  if (coupon.currency !== null && coupon.currency !== orderCurrency) {
    return { ok: false, status: "currency_mismatch" };
  }
  if (coupon.ownerMemberId === buyer.memberId || sameWallet(coupon.ownerWallet, buyer.wallet)) {
    return { ok: false, status: "self_referral" };
  }
  if (coupon.maxRedemptions !== null && coupon.redemptions >= coupon.maxRedemptions) {
    return { ok: false, status: "coupon_exhausted" };
  }
  return { ok: true, coupon };
}

/**
 * The order's attribution once the coupon is weighed against `base` (the decision without it).
 * A coupon that cannot be redeemed leaves `base` as it is, except that a coupon refused as the buyer's
 * own names the reason (`self_referral`) when nothing else referred the order.
 */
export function applyCoupon<B extends CheckoutAttribution | { applied: false; reason: string }>(input: {
  base: B;
  coupon: { ok: true; coupon: CheckoutCoupon } | { ok: false; status: CouponStatus } | null;
  precedence: CouponPrecedence;
  /** ATTRIBUTION_SCOPE `first_order` with earlier paid orders: a coupon cannot credit this order either. */
  notFirstOrder: boolean;
  now: Date;
}): B | CheckoutAttribution {
  const { base, coupon } = input;
  if (!coupon) return base;
  if (!coupon.ok) {
    return coupon.status === "self_referral" && !base.applied && base.reason === "no_referral"
      ? { applied: false, reason: "self_referral" }
      : base;
  }
  const owner = coupon.coupon.ownerMemberId;
  if (input.precedence === "referrer" && base.applied && base.referrerMemberId !== owner) return base;
  if (input.notFirstOrder) return { applied: false, reason: "not_first_order" };
  return {
    applied: true,
    referrerMemberId: owner,
    code: coupon.coupon.code,
    source: "coupon",
    attributedAt: input.now,
  };
}
