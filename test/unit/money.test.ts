import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocate,
  applyBps,
  BPS_DENOMINATOR,
  currencyExponent,
  divideHalfEven,
  formatMinor,
  formatWei,
  parseMinor,
  parseWei,
  remainingAfterOrderRefunds,
  remainingAfterRefunds,
  settlementsFullyRefunded,
} from "../../src/domain/money.js";
import { AppError } from "../../src/errors.js";

/** Reference rounding written a different way: floor division, then compare the remainder to d/2. */
function referenceHalfEven(n: bigint, d: bigint): bigint {
  let floor = n / d;
  if (n % d !== 0n && n < 0n) floor -= 1n;
  const remainder = n - floor * d; // 0 ≤ remainder < d
  if (remainder * 2n < d) return floor;
  if (remainder * 2n > d) return floor + 1n;
  return floor % 2n === 0n ? floor : floor + 1n;
}

function appErrorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof AppError ? error.code : `not an AppError: ${String(error)}`;
  }
  return undefined;
}

const bigintAmount = fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n });

describe("divideHalfEven", () => {
  it.each([
    [5n, 2n, 2n],
    [15n, 2n, 8n],
    [25n, 10n, 2n],
    [35n, 10n, 4n],
    [-5n, 2n, -2n],
    [-15n, 2n, -8n],
    [-25n, 10n, -2n],
    [7n, 2n, 4n],
    [1n, 3n, 0n],
    [2n, 3n, 1n],
    [-1n, 3n, 0n],
    [-2n, 3n, -1n],
    [0n, 7n, 0n],
    [12n, 4n, 3n],
  ])("rounds %s / %s to %s (ties go to the even neighbour, symmetric for negatives)", (n, d, expected) => {
    expect(divideHalfEven(n, d)).toBe(expected);
  });

  it("matches a floor-based reference implementation on random numerators, including negatives", () => {
    fc.assert(
      fc.property(bigintAmount, fc.bigInt({ min: 1n, max: 10n ** 12n }), (n, d) => {
        expect(divideHalfEven(n, d)).toBe(referenceHalfEven(n, d));
      }),
      { numRuns: 2000 },
    );
  });

  it("matches the reference on exact ties (odd multiples of d/2)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.bigInt({ min: 1n, max: 10n ** 9n }),
        (k, half) => {
          const d = half * 2n;
          const n = (2n * k + 1n) * half; // exactly (k + 0.5) × d
          const result = divideHalfEven(n, d);
          expect(result).toBe(referenceHalfEven(n, d));
          expect(result % 2n).toBe(0n);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("is symmetric around zero: f(-n) = -f(n)", () => {
    fc.assert(
      fc.property(bigintAmount, fc.bigInt({ min: 1n, max: 10n ** 6n }), (n, d) => {
        expect(divideHalfEven(-n, d)).toBe(-divideHalfEven(n, d));
      }),
    );
  });

  it("throws on a zero or negative denominator", () => {
    expect(() => divideHalfEven(1n, 0n)).toThrow(RangeError);
    expect(() => divideHalfEven(1n, -3n)).toThrow(RangeError);
  });
});

describe("applyBps", () => {
  it("computes amount × bps / 10000 rounded half-even", () => {
    expect(BPS_DENOMINATOR).toBe(10_000n);
    expect(applyBps(10_000n, 500)).toBe(500n);
    expect(applyBps(10n, 500)).toBe(0n); // 0.5 → 0
    expect(applyBps(30n, 500)).toBe(2n); // 1.5 → 2
    expect(applyBps(50n, 500)).toBe(2n); // 2.5 → 2
    expect(applyBps(12_345n, 0)).toBe(0n);
    expect(applyBps(12_345n, 10_000)).toBe(12_345n);
  });

  it("refuses fractional, negative or above-100% rates", () => {
    expect(() => applyBps(100n, 1.5)).toThrow(RangeError);
    expect(() => applyBps(100n, -1)).toThrow(RangeError);
    expect(() => applyBps(100n, 10_001)).toThrow(RangeError);
    expect(() => applyBps(100n, Number.NaN)).toThrow(RangeError);
  });
});

describe("allocate", () => {
  it("splits by largest remainder with ties going to the lower index", () => {
    expect(allocate(10n, [1n, 1n, 1n])).toEqual([4n, 3n, 3n]);
    expect(allocate(1n, [1n, 1n])).toEqual([1n, 0n]);
    expect(allocate(100n, [1n, 2n, 3n, 4n])).toEqual([10n, 20n, 30n, 40n]);
    expect(allocate(10n, [3n, 3n, 4n])).toEqual([3n, 3n, 4n]);
    // exact shares 3.33…, 6.66… → remainders favour the second part
    expect(allocate(10n, [1n, 2n])).toEqual([3n, 7n]);
    expect(allocate(5n, [0n, 1n, 0n])).toEqual([0n, 5n, 0n]);
  });

  it("spreads evenly, leftovers to the lowest indexes, when every weight is zero", () => {
    expect(allocate(7n, [0n, 0n, 0n])).toEqual([3n, 2n, 2n]);
    expect(allocate(0n, [0n, 0n])).toEqual([0n, 0n]);
  });

  it("mirrors the positive split for a negative total", () => {
    expect(allocate(-10n, [1n, 1n, 1n])).toEqual([-4n, -3n, -3n]);
  });

  it("refuses negative weights and a non-zero total over no weights", () => {
    expect(() => allocate(10n, [1n, -1n])).toThrow(RangeError);
    expect(() => allocate(10n, [])).toThrow(RangeError);
    expect(allocate(0n, [])).toEqual([]);
  });

  it("always sums exactly to the total and keeps every part within 1 of its exact share", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 18n), max: 10n ** 18n }),
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 20 }),
        (total, weights) => {
          const parts = allocate(total, weights);
          expect(parts).toHaveLength(weights.length);
          expect(parts.reduce((a, b) => a + b, 0n)).toBe(total);
          const weightSum = weights.reduce((a, b) => a + b, 0n);
          const effective = weightSum === 0n ? weights.map(() => 1n) : weights;
          const denominator = weightSum === 0n ? BigInt(weights.length) : weightSum;
          for (const [i, part] of parts.entries()) {
            // |part − total × w / W| < 1  ⇔  |part × W − total × w| < W
            const error = part * denominator - total * effective[i]!;
            expect(error < denominator && error > -denominator).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("never gives a larger weight a smaller part (for a non-negative total)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 9n }),
        fc.array(fc.bigInt({ min: 0n, max: 1000n }), { minLength: 2, maxLength: 12 }),
        (total, weights) => {
          const parts = allocate(total, weights);
          for (let i = 0; i < weights.length; i += 1) {
            for (let j = 0; j < weights.length; j += 1) {
              if (weights[i]! > weights[j]!) expect(parts[i]! >= parts[j]!).toBe(true);
            }
          }
        },
      ),
    );
  });
});

describe("parseMinor / parseWei", () => {
  it.each(["0", "1", "12500", "9".repeat(31)])("accepts %s", (value) => {
    expect(parseMinor(value)).toBe(BigInt(value));
  });

  it.each([
    "",
    "01",
    "00",
    "-1",
    "+1",
    "1.0",
    "1.",
    " 1",
    "1 ",
    "1e3",
    "0x10",
    "1_000",
    "١٢",
    "１２",
    "9".repeat(32),
  ])("refuses %j with validation_failed", (value) => {
    expect(appErrorCode(() => parseMinor(value, "unitAmount"))).toBe("validation_failed");
  });

  it("names the field in the error and refuses non-strings that slipped past the types", () => {
    try {
      parseMinor("1.5", "lines[0].unitAmount");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).message).toContain("lines[0].unitAmount");
      expect((error as AppError).details).toEqual({ field: "lines[0].unitAmount" });
    }
    expect(appErrorCode(() => parseMinor(12 as unknown as string))).toBe("validation_failed");
  });

  it("parseWei accepts up to 78 digits and refuses 79", () => {
    expect(parseWei("9".repeat(78))).toBe(10n ** 78n - 1n);
    expect(appErrorCode(() => parseWei("1" + "0".repeat(78)))).toBe("validation_failed");
    expect(appErrorCode(() => parseWei("-5"))).toBe("validation_failed");
  });

  it("round-trips any non-negative amount through its decimal string", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 31n - 1n }), (amount) => {
        expect(parseMinor(amount.toString())).toBe(amount);
      }),
    );
  });
});

describe("formatMinor / formatWei", () => {
  it.each([
    [12500n, "UAH", "125.00 UAH"],
    [5n, "USD", "0.05 USD"],
    [0n, "EUR", "0.00 EUR"],
    [-150n, "USD", "-1.50 USD"],
    [500n, "JPY", "500 JPY"],
    [1000n, "KRW", "1000 KRW"],
    [1234n, "KWD", "1.234 KWD"],
    [12500n, "uah", "125.00 UAH"],
    [123456789012345678901234567890n, "USD", "1234567890123456789012345678.90 USD"],
  ])("formats %s %s as %j", (amount, currency, expected) => {
    expect(formatMinor(amount, currency)).toBe(expected);
  });

  it("knows the minor-unit exponent of zero- and three-decimal currencies", () => {
    expect(currencyExponent("JPY")).toBe(0);
    expect(currencyExponent("BHD")).toBe(3);
    expect(currencyExponent("UAH")).toBe(2);
  });

  it.each([
    [1_500_000_000_000_000_000n, 18, "1.5"],
    [10n ** 18n, 18, "1"],
    [0n, 18, "0"],
    [1n, 18, "0.000000000000000001"],
    [-2_250_000_000_000_000_000n, 18, "-2.25"],
    [123n, 0, "123"],
    [123_450n, 6, "0.12345"],
  ])("formatWei(%s, %s) is %j", (amount, decimals, expected) => {
    expect(formatWei(amount, decimals)).toBe(expected);
  });

  it("formatWei is exact: the decimal string converts back to the same wei", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), (wei) => {
        const [whole, fraction = ""] = formatWei(wei).split(".");
        expect(BigInt(whole! + fraction.padEnd(18, "0"))).toBe(wei);
      }),
    );
  });
});

describe("remainingAfterRefunds", () => {
  it("scales the original by the unrefunded share, rounding half-even", () => {
    expect(remainingAfterRefunds(500n, 10_000n, 0n)).toBe(500n);
    expect(remainingAfterRefunds(500n, 10_000n, 2_500n)).toBe(375n);
    expect(remainingAfterRefunds(500n, 10_000n, 10_000n)).toBe(0n);
    expect(remainingAfterRefunds(3n, 2n, 1n)).toBe(1n); // 3 − round(1.5) = 3 − 2
    expect(remainingAfterRefunds(0n, 0n, 0n)).toBe(0n);
    expect(remainingAfterRefunds(7n, 0n, 0n)).toBe(7n);
  });

  it("refuses refunds above what was paid with refund_exceeds_paid", () => {
    expect(appErrorCode(() => remainingAfterRefunds(500n, 10_000n, 10_001n))).toBe("refund_exceeds_paid");
    expect(appErrorCode(() => remainingAfterRefunds(500n, 0n, 1n))).toBe("refund_exceeds_paid");
  });

  it("refuses negative amounts as a caller bug", () => {
    expect(() => remainingAfterRefunds(-1n, 10n, 1n)).toThrow(RangeError);
    expect(() => remainingAfterRefunds(1n, 10n, -1n)).toThrow(RangeError);
  });

  it("never rises and never goes negative across a random sequence of partial refunds, and ends at 0 on a full refund", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { minLength: 1, maxLength: 30 }),
        (original, paidTotal, steps) => {
          let refunded = 0n;
          let previous = remainingAfterRefunds(original, paidTotal, 0n);
          expect(previous).toBe(original);
          for (const step of steps) {
            const refund = step % (paidTotal - refunded + 1n); // never beyond what is left
            refunded += refund;
            const remaining = remainingAfterRefunds(original, paidTotal, refunded);
            expect(remaining >= 0n).toBe(true);
            expect(remaining <= previous).toBe(true);
            previous = remaining;
          }
          expect(remainingAfterRefunds(original, paidTotal, paidTotal)).toBe(0n);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("remainingAfterOrderRefunds", () => {
  it("shares refunds of an overpaid order against the order total, not the amount paid", () => {
    // Paid 200,000 for a 170,000 order: a 30,000 refund takes 30/170 of each amount.
    expect(remainingAfterOrderRefunds(5000n, 200000n, 170000n, 30000n)).toBe(
      remainingAfterRefunds(5000n, 170000n, 30000n),
    );
    // Refunds reaching the order total leave nothing; beyond it they return the overpayment.
    expect(remainingAfterOrderRefunds(5000n, 200000n, 170000n, 170000n)).toBe(0n);
    expect(remainingAfterOrderRefunds(5000n, 200000n, 170000n, 200000n)).toBe(0n);
    expect(settlementsFullyRefunded(200000n, 170000n, 170000n)).toBe(true);
    expect(settlementsFullyRefunded(200000n, 170000n, 169999n)).toBe(false);
  });

  it("keeps the amount paid as the base when the buyer paid the total or less", () => {
    expect(remainingAfterOrderRefunds(5000n, 170000n, 170000n, 30000n)).toBe(
      remainingAfterRefunds(5000n, 170000n, 30000n),
    );
    expect(remainingAfterOrderRefunds(5000n, 100000n, 170000n, 50000n)).toBe(
      remainingAfterRefunds(5000n, 100000n, 50000n),
    );
    expect(settlementsFullyRefunded(100000n, 170000n, 100000n)).toBe(true);
  });

  it("refuses refunds beyond the amount paid", () => {
    expect(() => remainingAfterOrderRefunds(5000n, 200000n, 170000n, 200001n)).toThrow(/refund/);
  });
});
