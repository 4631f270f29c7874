/**
 * The closed sets the ledger stores and the API speaks: one definition each, imported by the database
 * types (src/db/schema.ts), the validators and views (src/http) and the pages (src/web). A pure module
 * with no imports, so the web bundle can import it. The SQL CHECK constraints in `migrations/` are the
 * truth; keep these in step with them.
 */

/** Every status a token reward can have, in lifecycle order (state machine: reward-state.ts). */
export const REWARD_STATUSES = Object.freeze([
  "pending_approval",
  "approved",
  "minting",
  "minted",
  "rejected",
  "cancelled",
  "failed",
  "held",
] as const);
export type RewardStatus = (typeof REWARD_STATUSES)[number];

/** Why a reward is `held` (see reward-state.ts). */
export const HOLD_REASONS = Object.freeze(["dispute", "amount_mismatch", "review"] as const);
export type HoldReason = (typeof HOLD_REASONS)[number];

/** What a reward pays for. */
export const REWARD_SOURCES = Object.freeze(["order", "membership"] as const);
export type RewardSource = (typeof REWARD_SOURCES)[number];

/** Every status of a vendor settlement (rail A). */
export const SETTLEMENT_STATUSES = Object.freeze([
  "pending",
  "due",
  "in_payout",
  "paid",
  "held",
  "cancelled",
] as const);
export type SettlementStatus = (typeof SETTLEMENT_STATUSES)[number];

/** Every status of a vendor payout. */
export const PAYOUT_STATUSES = Object.freeze(["created", "paid", "failed"] as const);
export type PayoutStatus = (typeof PAYOUT_STATUSES)[number];

/** Every status of an order. */
export const ORDER_STATUSES = Object.freeze(["created", "paid", "partially_refunded", "refunded"] as const);
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** How an order was paid. */
export const PAYMENT_RAILS = Object.freeze(["card", "credit"] as const);
export type PaymentRail = (typeof PAYMENT_RAILS)[number];

/** Every status of a mint batch. */
export const MINT_BATCH_STATUSES = Object.freeze([
  "claimed",
  "signed",
  "awaiting_approval",
  "approval_signed",
  "confirmed",
  "failed",
  "released",
] as const);
export type MintBatchStatus = (typeof MINT_BATCH_STATUSES)[number];

/** Every status of a chargeback dispute. */
export const DISPUTE_STATUSES = Object.freeze(["opened", "won", "lost"] as const);
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number];

/** Which configuration level supplied a line's commission rate (see rates.ts). */
export const RATE_SOURCES = Object.freeze(["product", "tier", "vendor", "platform"] as const);
export type RateSource = (typeof RATE_SOURCES)[number];

/** Where a signup's attribution (`members.attribution_source`) came from. */
export const SIGNUP_ATTRIBUTION_SOURCES = Object.freeze(["ref_code", "cookie", "click_id"] as const);
export type SignupAttributionSource = (typeof SIGNUP_ATTRIBUTION_SOURCES)[number];

/** Where an applied checkout attribution (`orders.attribution_source`) came from. */
export const CHECKOUT_ATTRIBUTION_SOURCES = Object.freeze([
  "referred_by",
  "explicit_code",
  "cookie",
  "coupon",
] as const);
export type CheckoutAttributionSource = (typeof CHECKOUT_ATTRIBUTION_SOURCES)[number];

/** What became of the coupon an order named (`orders.coupon_status`; see domain/coupons.ts). */
export const COUPON_STATUSES = Object.freeze([
  "redeemed",
  "unknown_coupon",
  "inactive_coupon",
  "expired_coupon",
  "coupon_exhausted",
  "currency_mismatch",
  "self_referral",
] as const);
export type CouponStatus = (typeof COUPON_STATUSES)[number];

/** COUPON_PRECEDENCE: who is credited when a coupon's owner and the buyer's other referrer differ. */
export const COUPON_PRECEDENCES = Object.freeze(["coupon", "referrer"] as const);
export type CouponPrecedence = (typeof COUPON_PRECEDENCES)[number];

/** Roles an API key can have. */
export const API_KEY_ROLES = Object.freeze(["admin", "integration", "vendor"] as const);
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];
