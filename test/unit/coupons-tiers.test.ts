import { describe, expect, it } from "vitest";
import type { CheckoutAttribution } from "../../src/domain/attribution.js";
import { applyCoupon, type CheckoutCoupon, checkCoupon } from "../../src/domain/coupons.js";
import { pickTierRate, resolveCommissionBps } from "../../src/domain/rates.js";

const now = new Date("2026-06-01T00:00:00Z");
const coupon: CheckoutCoupon = {
  code: "DAN-SAVE",
  ownerMemberId: "m_dan",
  ownerWallet: "0xAbC0000000000000000000000000000000000001",
  active: true,
  expiresAt: null,
  maxRedemptions: 10,
  redemptions: 3,
  currency: null,
};
const buyer = { memberId: "m_bob", wallet: null };

describe("checkCoupon", () => {
  it("accepts a live coupon and names the first rule that fails, in order", () => {
    expect(checkCoupon(coupon, buyer, "UAH", now)).toEqual({ ok: true, coupon });
    expect(checkCoupon("unknown", buyer, "UAH", now)).toEqual({ ok: false, status: "unknown_coupon" });
    expect(checkCoupon({ ...coupon, active: false, redemptions: 10 }, buyer, "UAH", now)).toMatchObject({
      status: "inactive_coupon",
    });
    expect(checkCoupon({ ...coupon, expiresAt: now }, buyer, "UAH", now)).toMatchObject({
      status: "expired_coupon",
    });
    expect(checkCoupon({ ...coupon, currency: "USD" }, buyer, "UAH", now)).toMatchObject({
      status: "currency_mismatch",
    });
    expect(checkCoupon(coupon, { memberId: "m_dan", wallet: null }, "UAH", now)).toMatchObject({
      status: "self_referral",
    });
    // The same wallet, whatever its case, is the same person.
    expect(
      checkCoupon(
        coupon,
        { memberId: "m_alt", wallet: "0xabc0000000000000000000000000000000000001" },
        "UAH",
        now,
      ),
    ).toMatchObject({ status: "self_referral" });
    expect(checkCoupon({ ...coupon, redemptions: 10 }, buyer, "UAH", now)).toMatchObject({
      status: "coupon_exhausted",
    });
    expect(checkCoupon({ ...coupon, maxRedemptions: null, redemptions: 1e6 }, buyer, "UAH", now).ok).toBe(
      true,
    );
  });
});

describe("applyCoupon (COUPON_PRECEDENCE)", () => {
  const cookie: CheckoutAttribution = {
    applied: true,
    referrerMemberId: "m_anna",
    code: "ANNA7F3K",
    source: "cookie",
    attributedAt: now,
  };
  const valid = { ok: true as const, coupon };
  const base = { notFirstOrder: false, now };

  it("coupon: the coupon's owner is credited over another referrer", () => {
    expect(applyCoupon({ ...base, base: cookie, coupon: valid, precedence: "coupon" })).toMatchObject({
      applied: true,
      referrerMemberId: "m_dan",
      code: "DAN-SAVE",
      source: "coupon",
    });
  });

  it("referrer: another referrer keeps the order; with none, the coupon credits", () => {
    expect(applyCoupon({ ...base, base: cookie, coupon: valid, precedence: "referrer" })).toBe(cookie);
    const none = { applied: false, reason: "no_referral" } as const;
    expect(applyCoupon({ ...base, base: none, coupon: valid, precedence: "referrer" })).toMatchObject({
      source: "coupon",
    });
  });

  it("a refused coupon leaves the base decision; an own coupon names self_referral when nothing else referred", () => {
    const self = { ok: false as const, status: "self_referral" as const };
    expect(applyCoupon({ ...base, base: cookie, coupon: self, precedence: "coupon" })).toBe(cookie);
    expect(
      applyCoupon({
        ...base,
        base: { applied: false, reason: "no_referral" },
        coupon: self,
        precedence: "coupon",
      }),
    ).toEqual({ applied: false, reason: "self_referral" });
  });

  it("scope first_order: a coupon cannot credit a buyer's later order either", () => {
    expect(
      applyCoupon({ base: cookie, coupon: valid, precedence: "coupon", notFirstOrder: true, now }),
    ).toEqual({ applied: false, reason: "not_first_order" });
  });
});

describe("tiers in the rate chain", () => {
  const tiers = [
    { vendor_id: "*", tier: "partner" },
    { vendor_id: "v_games", tier: "vip" },
  ];
  const rates = [
    { tier: "partner", vendor_id: "*", commission_bps: 1200 },
    { tier: "vip", vendor_id: "*", commission_bps: 2000 },
    { tier: "vip", vendor_id: "v_games", commission_bps: 1500 },
    { tier: "partner", vendor_id: "v_books", commission_bps: 900 },
  ];

  it("picks the vendor program's tier, else the platform-wide one; that tier's vendor rate, else its platform rate", () => {
    expect(pickTierRate(tiers, rates, "v_games")).toEqual({ tier: "vip", bps: 1500 });
    expect(pickTierRate(tiers, rates, "v_books")).toEqual({ tier: "partner", bps: 900 });
    expect(pickTierRate(tiers, rates, "v_other")).toEqual({ tier: "partner", bps: 1200 });
    expect(pickTierRate([], rates, "v_games")).toBeUndefined();
    expect(pickTierRate([{ vendor_id: "*", tier: "gold" }], rates, "v_games")).toBeUndefined();
  });

  it("product override → tier → vendor → platform, clamped, source kept", () => {
    const tier = { tier: "vip", bps: 2000 };
    const common = { platformDefaultBps: 500, maxBps: 1800 };
    expect(resolveCommissionBps({ ...common, productBps: 0, tier, vendorBps: 800 })).toEqual({
      bps: 0,
      source: "product",
    });
    expect(resolveCommissionBps({ ...common, tier, vendorBps: 800 })).toEqual({
      bps: 1800,
      source: "tier",
      tier: "vip",
    });
    expect(resolveCommissionBps({ ...common, tier: null, vendorBps: 800 })).toEqual({
      bps: 800,
      source: "vendor",
    });
    expect(resolveCommissionBps({ ...common })).toEqual({ bps: 500, source: "platform" });
  });
});
