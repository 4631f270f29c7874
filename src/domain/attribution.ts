import type { CheckoutAttributionSource } from "./enums.js";

/**
 * Attribution rules: who, if anyone, referred a buyer. Pure decisions over data the ledger has already
 * loaded; the caller persists the outcome. Codes here are already normalized and resolved to their
 * owner (see `codes.ts`).
 *
 * At checkout the first source present decides, in priority order: the member's durable `referredBy`
 * (set once at signup or first attributed order) → a code the buyer entered explicitly → the first-touch
 * cookie. A lower-priority source is never consulted when a higher one is present, even if the higher
 * one is refused (expired, self-referral…): first touch owns the buyer, and a buyer cannot shop for a
 * different referrer by typing another code.
 */

const DAY_MS = 86_400_000;

/** A referral code resolved to its owner. */
export interface ResolvedReferralCode {
  code: string;
  ownerMemberId: string;
  ownerWallet: string | null;
  active: boolean;
}

/** The buyer as stored, including any durable attribution. */
export interface BuyerAttribution {
  memberId: string;
  wallet: string | null;
  referredByMemberId: string | null;
  referredByCode: string | null;
  attributedAt: Date | null;
  /** The referrer's current wallet, if the caller loaded it; enables the same-wallet check for `referredBy`. */
  referredByWallet?: string | null;
}

/** Input to `decideCheckoutAttribution`. */
export interface CheckoutAttributionInput {
  buyer: BuyerAttribution;
  explicitCode: ResolvedReferralCode | null | undefined;
  cookieCode: ResolvedReferralCode | null | undefined;
  now: Date;
  /** `ATTRIBUTION_WINDOW_DAYS`: an attribution applies for this many days (inclusive) after it was made. */
  windowDays: number;
  /** `ATTRIBUTION_SCOPE`: only the buyer's first paid order, or every order inside the window. */
  scope: "first_order" | "window";
  buyerPaidOrders: number;
}

/** Where an applied checkout attribution came from (CHECKOUT_ATTRIBUTION_SOURCES). */
export type { CheckoutAttributionSource } from "./enums.js";

/** Why a checkout was not attributed. */
export type CheckoutAttributionRefusal =
  | "no_referral"
  | "self_referral"
  | "expired"
  | "inactive_code"
  | "not_first_order";

/** The outcome of `decideCheckoutAttribution`. */
export type CheckoutAttribution =
  | {
      applied: true;
      referrerMemberId: string;
      code: string;
      source: CheckoutAttributionSource;
      /** When the attribution was made: the buyer's `attributedAt` for `referred_by`, else `now`. */
      attributedAt: Date;
    }
  | { applied: false; reason: CheckoutAttributionRefusal };

function sameWallet(a: string | null | undefined, b: string | null | undefined): boolean {
  return (
    a !== null && a !== undefined && b !== null && b !== undefined && a.toLowerCase() === b.toLowerCase()
  );
}

/**
 * Decides whether an order is attributed and to whom.
 *
 * - `referred_by` wins whenever the buyer has one, even if that code has since been rotated or
 *   deactivated: a durable attribution outlives its code. Its window runs from `buyer.attributedAt`.
 * - An explicit or cookie code must be active; its attribution is made now, so it is inside the window.
 * - Self-referral: the referrer is the buyer, or has the buyer's wallet (compared case-insensitively).
 * - Window: applies while `now − attributedAt ≤ windowDays` days; later is `expired`.
 * - Scope `first_order`: refused once the buyer has any paid order.
 *
 * Checks run in that order (self-referral, inactive code, window, scope), so the reason names the
 * first rule that failed.
 * @throws RangeError when the buyer has `referredByMemberId` without `referredByCode` or `attributedAt`
 * (the ledger writes the three together; anything else is corrupt data, not a buyer error).
 */
export function decideCheckoutAttribution(input: CheckoutAttributionInput): CheckoutAttribution {
  const { buyer, now } = input;
  let candidate: {
    referrerMemberId: string;
    referrerWallet: string | null | undefined;
    code: string;
    active: boolean;
    source: CheckoutAttributionSource;
    attributedAt: Date;
  };
  if (buyer.referredByMemberId !== null) {
    if (buyer.referredByCode === null || buyer.attributedAt === null) {
      throw new RangeError(
        `member ${buyer.memberId} has referredByMemberId but no referredByCode or attributedAt`,
      );
    }
    candidate = {
      referrerMemberId: buyer.referredByMemberId,
      referrerWallet: buyer.referredByWallet,
      code: buyer.referredByCode,
      active: true, // a durable attribution is honoured even after its code was rotated
      source: "referred_by",
      attributedAt: buyer.attributedAt,
    };
  } else {
    const resolved = input.explicitCode ?? input.cookieCode;
    if (!resolved) return { applied: false, reason: "no_referral" };
    candidate = {
      referrerMemberId: resolved.ownerMemberId,
      referrerWallet: resolved.ownerWallet,
      code: resolved.code,
      active: resolved.active,
      source: input.explicitCode ? "explicit_code" : "cookie",
      attributedAt: now,
    };
  }

  if (candidate.referrerMemberId === buyer.memberId || sameWallet(candidate.referrerWallet, buyer.wallet)) {
    return { applied: false, reason: "self_referral" };
  }
  if (!candidate.active) return { applied: false, reason: "inactive_code" };
  if (now.getTime() - candidate.attributedAt.getTime() > input.windowDays * DAY_MS) {
    return { applied: false, reason: "expired" };
  }
  if (input.scope === "first_order" && input.buyerPaidOrders > 0) {
    return { applied: false, reason: "not_first_order" };
  }
  return {
    applied: true,
    referrerMemberId: candidate.referrerMemberId,
    code: candidate.code,
    source: candidate.source,
    attributedAt: candidate.attributedAt,
  };
}

/** Input to `decideSignupAttribution`. */
export interface SignupAttributionInput {
  /** The member being created, or the existing row on a repeat call. */
  member: { memberId: string; wallet: string | null; referredByMemberId: string | null };
  /**
   * The `refCode` of the request: `null`/`undefined` when none was sent, `"unknown"` when it was sent
   * but does not normalize or resolve to any code, else the resolved code.
   */
  code: ResolvedReferralCode | "unknown" | null | undefined;
  /** Whether the code's owner has reached an anti-abuse cap (per referrer per month, per IP per day). */
  capReached: boolean;
  now: Date;
}

/** Why a signup was not attributed (`no_referral`: no code was sent; the API omits the reason then). */
export type SignupAttributionRefusal =
  | "no_referral"
  | "unknown_code"
  | "inactive_code"
  | "self_referral"
  | "already_attributed"
  | "cap_reached";

/** The outcome of `decideSignupAttribution`. */
export type SignupAttribution =
  | { applied: true; referrerMemberId: string; code: string; source: "signup"; attributedAt: Date }
  | { applied: false; reason: SignupAttributionRefusal };

/**
 * Decides whether `POST /v1/members` attributes the member to a referrer. First touch: a member who
 * already has a referrer keeps it (`already_attributed`, whatever code is sent now). Then the code
 * must be known, active, not the member's own (same member or same wallet, case-insensitive), and its
 * owner under the caps. Checks run in that order.
 */
export function decideSignupAttribution(input: SignupAttributionInput): SignupAttribution {
  const { member, code } = input;
  if (code === null || code === undefined) return { applied: false, reason: "no_referral" };
  if (member.referredByMemberId !== null) return { applied: false, reason: "already_attributed" };
  if (code === "unknown") return { applied: false, reason: "unknown_code" };
  if (!code.active) return { applied: false, reason: "inactive_code" };
  if (code.ownerMemberId === member.memberId || sameWallet(code.ownerWallet, member.wallet)) {
    return { applied: false, reason: "self_referral" };
  }
  if (input.capReached) return { applied: false, reason: "cap_reached" };
  return {
    applied: true,
    referrerMemberId: code.ownerMemberId,
    code: code.code,
    source: "signup",
    attributedAt: input.now,
  };
}
