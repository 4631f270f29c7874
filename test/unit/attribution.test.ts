import { describe, expect, it } from "vitest";
import {
  type BuyerAttribution,
  type CheckoutAttributionInput,
  decideCheckoutAttribution,
  decideSignupAttribution,
  type ResolvedReferralCode,
  type SignupAttributionInput,
} from "../../src/domain/attribution.js";

const NOW = new Date("2025-06-01T12:00:00.000Z");
const daysBefore = (days: number, ms = 0) => new Date(NOW.getTime() - days * 86_400_000 - ms);

const ANNA: ResolvedReferralCode = {
  code: "ANNA7F3K",
  ownerMemberId: "m_anna",
  ownerWallet: "0xAbC0000000000000000000000000000000000001",
  active: true,
};
const CARL: ResolvedReferralCode = {
  code: "CARL2222",
  ownerMemberId: "m_carl",
  ownerWallet: null,
  active: true,
};

const newBuyer: BuyerAttribution = {
  memberId: "m_bob",
  wallet: "0xb0b0000000000000000000000000000000000002",
  referredByMemberId: null,
  referredByCode: null,
  attributedAt: null,
};

const referredBuyer: BuyerAttribution = {
  ...newBuyer,
  referredByMemberId: "m_anna",
  referredByCode: "ANNA7F3K",
  attributedAt: daysBefore(10),
};

function checkout(
  overrides: Partial<CheckoutAttributionInput>,
): ReturnType<typeof decideCheckoutAttribution> {
  return decideCheckoutAttribution({
    buyer: newBuyer,
    explicitCode: null,
    cookieCode: null,
    now: NOW,
    windowDays: 90,
    scope: "window",
    buyerPaidOrders: 0,
    ...overrides,
  });
}

describe("decideCheckoutAttribution", () => {
  it("reports no_referral when there is no referredBy, explicit code or cookie", () => {
    expect(checkout({})).toEqual({ applied: false, reason: "no_referral" });
    expect(checkout({ explicitCode: undefined, cookieCode: undefined })).toEqual({
      applied: false,
      reason: "no_referral",
    });
  });

  it("prefers the member's durable referredBy over an explicit code and a cookie", () => {
    expect(checkout({ buyer: referredBuyer, explicitCode: CARL, cookieCode: CARL })).toEqual({
      applied: true,
      referrerMemberId: "m_anna",
      code: "ANNA7F3K",
      source: "referred_by",
      attributedAt: referredBuyer.attributedAt,
    });
  });

  it("prefers an explicit code over the cookie, attributing it now", () => {
    expect(checkout({ explicitCode: CARL, cookieCode: ANNA })).toEqual({
      applied: true,
      referrerMemberId: "m_carl",
      code: "CARL2222",
      source: "explicit_code",
      attributedAt: NOW,
    });
  });

  it("falls back to the cookie when there is no referredBy and no explicit code", () => {
    expect(checkout({ cookieCode: ANNA })).toMatchObject({
      applied: true,
      referrerMemberId: "m_anna",
      source: "cookie",
    });
  });

  it("honours referredBy even after its code was rotated or deactivated", () => {
    // The old code no longer resolves to an active row; the durable attribution does not need it to.
    expect(
      checkout({
        buyer: { ...referredBuyer, referredByCode: "OLDCODE1" },
        explicitCode: { ...ANNA, active: false },
      }),
    ).toMatchObject({
      applied: true,
      code: "OLDCODE1",
      source: "referred_by",
    });
  });

  it("refuses an inactive explicit or cookie code", () => {
    expect(checkout({ explicitCode: { ...CARL, active: false } })).toEqual({
      applied: false,
      reason: "inactive_code",
    });
    expect(checkout({ cookieCode: { ...CARL, active: false } })).toEqual({
      applied: false,
      reason: "inactive_code",
    });
  });

  it("does not fall through to a lower-priority source when the higher one is refused", () => {
    expect(checkout({ explicitCode: { ...CARL, active: false }, cookieCode: ANNA })).toEqual({
      applied: false,
      reason: "inactive_code",
    });
    expect(
      checkout({ buyer: { ...referredBuyer, attributedAt: daysBefore(91) }, explicitCode: CARL }),
    ).toEqual({
      applied: false,
      reason: "expired",
    });
  });

  it("refuses self-referral by the same member", () => {
    expect(checkout({ explicitCode: { ...CARL, ownerMemberId: "m_bob" } })).toEqual({
      applied: false,
      reason: "self_referral",
    });
  });

  it("refuses self-referral by a shared wallet, compared case-insensitively", () => {
    const buyer = { ...newBuyer, wallet: "0xabc0000000000000000000000000000000000001" };
    expect(checkout({ buyer, cookieCode: ANNA })).toEqual({ applied: false, reason: "self_referral" });
  });

  it("refuses a referredBy whose referrer now shares the buyer's wallet, when the caller supplies it", () => {
    const buyer = {
      ...referredBuyer,
      referredByWallet: referredBuyer.wallet!.toUpperCase().replace("0X", "0x"),
    };
    expect(checkout({ buyer })).toEqual({ applied: false, reason: "self_referral" });
  });

  it("does not treat two members without wallets as sharing one", () => {
    expect(checkout({ buyer: { ...newBuyer, wallet: null }, explicitCode: CARL })).toMatchObject({
      applied: true,
    });
  });

  it("applies referredBy through the last millisecond of the window and expires it after", () => {
    expect(checkout({ buyer: { ...referredBuyer, attributedAt: daysBefore(90) } })).toMatchObject({
      applied: true,
    });
    expect(checkout({ buyer: { ...referredBuyer, attributedAt: daysBefore(90, 1) } })).toEqual({
      applied: false,
      reason: "expired",
    });
    expect(checkout({ buyer: { ...referredBuyer, attributedAt: daysBefore(10) }, windowDays: 7 })).toEqual({
      applied: false,
      reason: "expired",
    });
  });

  it("with scope first_order, attributes only the buyer's first paid order", () => {
    expect(checkout({ buyer: referredBuyer, scope: "first_order", buyerPaidOrders: 0 })).toMatchObject({
      applied: true,
    });
    expect(checkout({ buyer: referredBuyer, scope: "first_order", buyerPaidOrders: 1 })).toEqual({
      applied: false,
      reason: "not_first_order",
    });
    expect(checkout({ cookieCode: ANNA, scope: "first_order", buyerPaidOrders: 3 })).toEqual({
      applied: false,
      reason: "not_first_order",
    });
  });

  it("with scope window, attributes every order inside the window", () => {
    expect(checkout({ buyer: referredBuyer, scope: "window", buyerPaidOrders: 5 })).toMatchObject({
      applied: true,
    });
  });

  it("treats a referredBy without its code or date as corrupt data, loudly", () => {
    expect(() => checkout({ buyer: { ...referredBuyer, referredByCode: null } })).toThrow(RangeError);
    expect(() => checkout({ buyer: { ...referredBuyer, attributedAt: null } })).toThrow(RangeError);
  });
});

function signup(overrides: Partial<SignupAttributionInput>): ReturnType<typeof decideSignupAttribution> {
  return decideSignupAttribution({
    member: {
      memberId: "m_bob",
      wallet: "0xb0b0000000000000000000000000000000000002",
      referredByMemberId: null,
    },
    code: ANNA,
    capReached: false,
    now: NOW,
    ...overrides,
  });
}

describe("decideSignupAttribution", () => {
  it("attributes a new member to the owner of an active code, now", () => {
    expect(signup({})).toEqual({
      applied: true,
      referrerMemberId: "m_anna",
      code: "ANNA7F3K",
      source: "signup",
      attributedAt: NOW,
    });
  });

  it("reports no_referral when no code was sent", () => {
    expect(signup({ code: null })).toEqual({ applied: false, reason: "no_referral" });
    expect(signup({ code: undefined })).toEqual({ applied: false, reason: "no_referral" });
  });

  it("refuses an unknown code", () => {
    expect(signup({ code: "unknown" })).toEqual({ applied: false, reason: "unknown_code" });
  });

  it("refuses an inactive code", () => {
    expect(signup({ code: { ...ANNA, active: false } })).toEqual({ applied: false, reason: "inactive_code" });
  });

  it("refuses the member's own code and a code whose owner shares the member's wallet", () => {
    expect(signup({ code: { ...ANNA, ownerMemberId: "m_bob" } })).toEqual({
      applied: false,
      reason: "self_referral",
    });
    expect(signup({ code: { ...ANNA, ownerWallet: "0xB0B0000000000000000000000000000000000002" } })).toEqual({
      applied: false,
      reason: "self_referral",
    });
  });

  it("keeps the first touch: an already attributed member is never re-attributed, whatever code is sent", () => {
    const member = { memberId: "m_bob", wallet: null, referredByMemberId: "m_carl" };
    expect(signup({ member })).toEqual({ applied: false, reason: "already_attributed" });
    expect(signup({ member, code: "unknown" })).toEqual({ applied: false, reason: "already_attributed" });
  });

  it("refuses when the referrer has reached an anti-abuse cap", () => {
    expect(signup({ capReached: true })).toEqual({ applied: false, reason: "cap_reached" });
  });
});
