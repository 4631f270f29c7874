import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { divideHalfEven } from "../../src/domain/money.js";
import {
  computeOrderSettlement,
  type OrderLineInput,
  type OrderSettlementInput,
  rewardWei,
  type VendorTerms,
} from "../../src/domain/settlement.js";
import { AppError } from "../../src/errors.js";

function line(
  overrides: Partial<OrderLineInput> & Pick<OrderLineInput, "lineId" | "vendorId">,
): OrderLineInput {
  return {
    productId: null,
    quantity: 1,
    unitAmount: 10_000n,
    commissionBps: 500,
    rateSource: "platform",
    ...overrides,
  };
}

function validationError(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error("expected an AppError");
}

const sum = (values: readonly bigint[]) => values.reduce((a, b) => a + b, 0n);

describe("computeOrderSettlement — worked examples", () => {
  it("settles a two-vendor order with discount and shipping per the written rule", () => {
    const result = computeOrderSettlement({
      lines: [
        line({
          lineId: "l1",
          vendorId: "v_books",
          productId: "p_1",
          quantity: 2,
          unitAmount: 25_000n,
          commissionBps: 1000,
          rateSource: "product",
        }),
        line({
          lineId: "l2",
          vendorId: "v_tea",
          productId: "p_2",
          quantity: 1,
          unitAmount: 50_000n,
          commissionBps: 500,
          rateSource: "vendor",
        }),
      ],
      vendors: [
        { vendorId: "v_books", platformFeeBps: 300 },
        { vendorId: "v_tea", platformFeeBps: 200 },
      ],
      shippingAmount: 3_000n,
      discountAmount: 10_000n,
      referral: true,
    });

    // merchandise 100 000, discount 10 000 split 5 000 / 5 000, shipping 3 000 split 1 500 / 1 500
    expect(result.orderGross).toBe(93_000n);
    const [books, tea] = result.vendors;
    expect(books).toMatchObject({
      vendorId: "v_books",
      merchandise: 50_000n,
      discount: 5_000n,
      shipping: 1_500n,
      gross: 46_500n,
      platformFee: 1_350n, // 3 % of 45 000 (shipping carries no fee)
      referralCommission: 4_500n, // 10 % of 45 000 (shipping not commissionable)
      net: 40_650n,
    });
    expect(books!.lines[0]).toEqual({
      lineId: "l1",
      productId: "p_1",
      quantity: 2,
      unitAmount: 25_000n,
      subtotal: 50_000n,
      discount: 5_000n,
      commissionBase: 45_000n,
      commissionBps: 1000,
      rateSource: "product",
      referralCommission: 4_500n,
    });
    expect(tea).toMatchObject({
      gross: 46_500n,
      platformFee: 900n,
      referralCommission: 2_250n,
      net: 43_350n,
    });
    expect(result.referralCommission).toBe(6_750n);
  });

  it("rounds the commission once on the vendor total, half-even, then splits it back over the lines", () => {
    // Each line alone is 0.5 → 0 under half-even, but the vendor total is exactly 1.
    const result = computeOrderSettlement({
      lines: [
        line({ lineId: "a", vendorId: "v", unitAmount: 1n, commissionBps: 5000 }),
        line({ lineId: "b", vendorId: "v", unitAmount: 1n, commissionBps: 5000 }),
      ],
      vendors: [{ vendorId: "v", platformFeeBps: 0 }],
      shippingAmount: 0n,
      discountAmount: 0n,
      referral: true,
    });
    expect(result.vendors[0]!.referralCommission).toBe(1n);
    expect(result.vendors[0]!.lines.map((l) => l.referralCommission)).toEqual([1n, 0n]);
  });

  it("rounds a vendor total of exactly x.5 to the even neighbour", () => {
    const settle = (unitAmount: bigint) =>
      computeOrderSettlement({
        lines: [line({ lineId: "a", vendorId: "v", unitAmount, commissionBps: 5000 })],
        vendors: [{ vendorId: "v", platformFeeBps: 0 }],
        shippingAmount: 0n,
        discountAmount: 0n,
        referral: true,
      }).referralCommission;
    expect(settle(1n)).toBe(0n); // 0.5 → 0
    expect(settle(3n)).toBe(2n); // 1.5 → 2
    expect(settle(5n)).toBe(2n); // 2.5 → 2
  });

  it("pays no referral commission when the order has no referral, but keeps rates in the breakdown", () => {
    const result = computeOrderSettlement({
      lines: [line({ lineId: "a", vendorId: "v", commissionBps: 1500, rateSource: "vendor" })],
      vendors: [{ vendorId: "v", platformFeeBps: 1000 }],
      shippingAmount: 0n,
      discountAmount: 0n,
      referral: false,
    });
    expect(result.referralCommission).toBe(0n);
    expect(result.vendors[0]).toMatchObject({ referralCommission: 0n, platformFee: 1_000n, net: 9_000n });
    expect(result.vendors[0]!.lines[0]).toMatchObject({
      commissionBps: 1500,
      rateSource: "vendor",
      referralCommission: 0n,
    });
  });

  it("lists vendors in order of first appearance and keeps each vendor's lines in input order", () => {
    const result = computeOrderSettlement({
      lines: [
        line({ lineId: "1", vendorId: "v_b" }),
        line({ lineId: "2", vendorId: "v_a" }),
        line({ lineId: "3", vendorId: "v_b" }),
      ],
      vendors: [
        { vendorId: "v_a", platformFeeBps: 0 },
        { vendorId: "v_b", platformFeeBps: 0 },
      ],
      shippingAmount: 0n,
      discountAmount: 0n,
      referral: true,
    });
    expect(result.vendors.map((v) => v.vendorId)).toEqual(["v_b", "v_a"]);
    expect(result.vendors[0]!.lines.map((l) => l.lineId)).toEqual(["1", "3"]);
  });

  it("spreads shipping evenly when every vendor's merchandise is free", () => {
    const result = computeOrderSettlement({
      lines: [
        line({ lineId: "1", vendorId: "a", unitAmount: 0n }),
        line({ lineId: "2", vendorId: "b", unitAmount: 0n }),
      ],
      vendors: [
        { vendorId: "a", platformFeeBps: 0 },
        { vendorId: "b", platformFeeBps: 0 },
      ],
      shippingAmount: 3n,
      discountAmount: 0n,
      referral: true,
    });
    expect(result.vendors.map((v) => v.shipping)).toEqual([2n, 1n]);
    expect(result.orderGross).toBe(3n);
  });
});

describe("computeOrderSettlement — validation", () => {
  const base: OrderSettlementInput = {
    lines: [line({ lineId: "a", vendorId: "v" })],
    vendors: [{ vendorId: "v", platformFeeBps: 0 }],
    shippingAmount: 0n,
    discountAmount: 0n,
    referral: true,
  };

  it.each([
    ["a discount above the merchandise total", { discountAmount: 10_001n }],
    ["a zero quantity", { lines: [line({ lineId: "a", vendorId: "v", quantity: 0 })] }],
    ["a negative quantity", { lines: [line({ lineId: "a", vendorId: "v", quantity: -1 })] }],
    ["a fractional quantity", { lines: [line({ lineId: "a", vendorId: "v", quantity: 1.5 })] }],
    ["a line whose vendor has no terms", { lines: [line({ lineId: "a", vendorId: "v_unknown" })] }],
    ["an order with no lines", { lines: [] }],
    ["a negative unit amount", { lines: [line({ lineId: "a", vendorId: "v", unitAmount: -1n })] }],
    ["a negative shipping amount", { shippingAmount: -1n }],
    ["a negative discount", { discountAmount: -1n }],
    [
      "a duplicate lineId",
      { lines: [line({ lineId: "a", vendorId: "v" }), line({ lineId: "a", vendorId: "v" })] },
    ],
    [
      "two sets of terms for one vendor",
      {
        vendors: [
          { vendorId: "v", platformFeeBps: 0 },
          { vendorId: "v", platformFeeBps: 100 },
        ],
      },
    ],
    ["a fractional commission rate", { lines: [line({ lineId: "a", vendorId: "v", commissionBps: 2.5 })] }],
  ] as Array<
    [string, Partial<OrderSettlementInput>]
  >)("refuses %s with validation_failed", (_, overrides) => {
    expect(validationError(() => computeOrderSettlement({ ...base, ...overrides })).code).toBe(
      "validation_failed",
    );
  });

  it("refuses an order where platform fee plus commission would make a vendor's net negative", () => {
    const error = validationError(() =>
      computeOrderSettlement({
        ...base,
        lines: [line({ lineId: "a", vendorId: "v", commissionBps: 5000 })],
        vendors: [{ vendorId: "v", platformFeeBps: 6000 }],
      }),
    );
    expect(error.code).toBe("validation_failed");
    expect(error.details).toMatchObject({ vendorId: "v" });
  });

  it("accepts a discount equal to the whole merchandise total (net 0, nothing commissionable)", () => {
    const result = computeOrderSettlement({ ...base, discountAmount: 10_000n, shippingAmount: 500n });
    expect(result.orderGross).toBe(500n);
    expect(result.referralCommission).toBe(0n);
    expect(result.vendors[0]!.net).toBe(500n);
  });
});

// Random orders: up to 4 vendors, fee ≤ 30 % and commission ≤ 50 %, so net can never go negative.
const orderArbitrary = fc
  .record({
    vendorCount: fc.integer({ min: 1, max: 4 }),
    rawLines: fc.array(
      fc.record({
        vendor: fc.nat(),
        quantity: fc.integer({ min: 1, max: 20 }),
        unitAmount: fc.bigInt({ min: 0n, max: 10_000_000n }),
        commissionBps: fc.integer({ min: 0, max: 5000 }),
        rateSource: fc.constantFrom("product" as const, "vendor" as const, "platform" as const),
      }),
      { minLength: 1, maxLength: 10 },
    ),
    fees: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 4, maxLength: 4 }),
    discountPermille: fc.integer({ min: 0, max: 1000 }),
    shippingAmount: fc.bigInt({ min: 0n, max: 1_000_000n }),
    referral: fc.boolean(),
  })
  .map(
    ({ vendorCount, rawLines, fees, discountPermille, shippingAmount, referral }): OrderSettlementInput => {
      const lines: OrderLineInput[] = rawLines.map((raw, i) => ({
        lineId: `l${i}`,
        vendorId: `v${raw.vendor % vendorCount}`,
        productId: `p${i}`,
        quantity: raw.quantity,
        unitAmount: raw.unitAmount,
        commissionBps: raw.commissionBps,
        rateSource: raw.rateSource,
      }));
      const vendors: VendorTerms[] = Array.from({ length: vendorCount }, (_, i) => ({
        vendorId: `v${i}`,
        platformFeeBps: fees[i]!,
      }));
      const merchandise = sum(lines.map((l) => BigInt(l.quantity) * l.unitAmount));
      return {
        lines,
        vendors,
        shippingAmount,
        discountAmount: (merchandise * BigInt(discountPermille)) / 1000n,
        referral,
      };
    },
  );

describe("computeOrderSettlement — invariants over random orders", () => {
  it("vendor gross sums to the order gross, which is subtotals − discount + shipping", () => {
    fc.assert(
      fc.property(orderArbitrary, (input) => {
        const result = computeOrderSettlement(input);
        const merchandise = sum(input.lines.map((l) => BigInt(l.quantity) * l.unitAmount));
        expect(result.orderGross).toBe(merchandise - input.discountAmount + input.shippingAmount);
        expect(sum(result.vendors.map((v) => v.gross))).toBe(result.orderGross);
        expect(sum(result.vendors.map((v) => v.shipping))).toBe(input.shippingAmount);
        expect(sum(result.vendors.map((v) => v.discount))).toBe(input.discountAmount);
      }),
      { numRuns: 500 },
    );
  });

  it("line commissions sum to their vendor's commission, vendor commissions to the order's, each rounded once half-even", () => {
    fc.assert(
      fc.property(orderArbitrary, (input) => {
        const result = computeOrderSettlement(input);
        for (const vendor of result.vendors) {
          expect(sum(vendor.lines.map((l) => l.referralCommission))).toBe(vendor.referralCommission);
          const exact = sum(vendor.lines.map((l) => l.commissionBase * BigInt(l.commissionBps)));
          expect(vendor.referralCommission).toBe(input.referral ? divideHalfEven(exact, 10_000n) : 0n);
        }
        expect(sum(result.vendors.map((v) => v.referralCommission))).toBe(result.referralCommission);
      }),
      { numRuns: 500 },
    );
  });

  it("every line's discount is within its subtotal and every vendor's net is gross − fee − commission ≥ 0", () => {
    fc.assert(
      fc.property(orderArbitrary, (input) => {
        for (const vendor of computeOrderSettlement(input).vendors) {
          for (const l of vendor.lines) {
            expect(l.discount >= 0n && l.discount <= l.subtotal).toBe(true);
            expect(l.commissionBase).toBe(l.subtotal - l.discount);
          }
          expect(vendor.net).toBe(vendor.gross - vendor.platformFee - vendor.referralCommission);
          expect(vendor.net >= 0n).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("changing one vendor's commission rates leaves every other vendor's settlement untouched", () => {
    fc.assert(
      fc.property(orderArbitrary, fc.nat(), fc.integer({ min: 0, max: 5000 }), (input, pick, newBps) => {
        const before = computeOrderSettlement(input);
        const changed = before.vendors[pick % before.vendors.length]!.vendorId;
        const after = computeOrderSettlement({
          ...input,
          lines: input.lines.map((l) => (l.vendorId === changed ? { ...l, commissionBps: newBps } : l)),
        });
        expect(after.orderGross).toBe(before.orderGross);
        for (const [i, vendor] of after.vendors.entries()) {
          if (vendor.vendorId !== changed) expect(vendor).toEqual(before.vendors[i]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("rewardWei", () => {
  it("converts the fiat basis exactly at the snapshotted rate", () => {
    expect(rewardWei(6_750n, 10_000_000_000_000_000n)).toBe(67_500_000_000_000_000_000n);
    expect(rewardWei(0n, 10n ** 16n)).toBe(0n);
    expect(() => rewardWei(-1n, 1n)).toThrow(RangeError);
  });
});
