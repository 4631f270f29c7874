import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { resolveCommissionBps } from "../../src/domain/rates.js";

describe("resolveCommissionBps", () => {
  it("prefers the product override over the vendor rate and the platform default", () => {
    expect(
      resolveCommissionBps({ productBps: 1200, vendorBps: 800, platformDefaultBps: 500, maxBps: 5000 }),
    ).toEqual({
      bps: 1200,
      source: "product",
    });
  });

  it("treats a product override of 0 as a real override, not as unset", () => {
    expect(
      resolveCommissionBps({ productBps: 0, vendorBps: 800, platformDefaultBps: 500, maxBps: 5000 }),
    ).toEqual({
      bps: 0,
      source: "product",
    });
  });

  it("falls back to the vendor rate when the product has none (null or undefined)", () => {
    expect(
      resolveCommissionBps({ productBps: null, vendorBps: 800, platformDefaultBps: 500, maxBps: 5000 }),
    ).toEqual({
      bps: 800,
      source: "vendor",
    });
    expect(resolveCommissionBps({ vendorBps: 800, platformDefaultBps: 500, maxBps: 5000 })).toEqual({
      bps: 800,
      source: "vendor",
    });
  });

  it("falls back to the platform default when neither product nor vendor sets a rate", () => {
    expect(
      resolveCommissionBps({ productBps: null, vendorBps: null, platformDefaultBps: 500, maxBps: 5000 }),
    ).toEqual({
      bps: 500,
      source: "platform",
    });
  });

  it("clamps to maxBps but keeps the source that supplied the value", () => {
    expect(
      resolveCommissionBps({ productBps: 4000, vendorBps: 800, platformDefaultBps: 500, maxBps: 3000 }),
    ).toEqual({
      bps: 3000,
      source: "product",
    });
    expect(
      resolveCommissionBps({ productBps: null, vendorBps: null, platformDefaultBps: 500, maxBps: 200 }),
    ).toEqual({
      bps: 200,
      source: "platform",
    });
  });

  it("always returns a rate within [0, maxBps] from the most specific level that is set", () => {
    const level = fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null });
    fc.assert(
      fc.property(
        level,
        level,
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        (p, v, d, max) => {
          const result = resolveCommissionBps({
            productBps: p,
            vendorBps: v,
            platformDefaultBps: d,
            maxBps: max,
          });
          const expected = p ?? v ?? d;
          expect(result.bps).toBe(Math.min(expected, max));
          expect(result.source).toBe(p !== null ? "product" : v !== null ? "vendor" : "platform");
        },
      ),
    );
  });
});
