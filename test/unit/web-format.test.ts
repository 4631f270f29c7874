import { describe, expect, it } from "vitest";
import { CURRENCY_EXPONENTS, currencyExponent, formatMinor } from "../../src/domain/money.js";
import { money } from "../../src/web/lib/format";

/** The pages' display of 123456 minor units, grouping spaces removed, compared with the server's. */
const pageAmount = (minor: bigint, currency: string) => money(minor, currency).replace(/\u202f/g, "");

describe("the pages format amounts with the server's currency exponents", () => {
  const known = Object.keys(CURRENCY_EXPONENTS);

  it.each(known)("%s is displayed with the server's exponent", (currency) => {
    expect(pageAmount(123_456n, currency)).toBe(formatMinor(123_456n, currency));
    const decimals = pageAmount(123_456n, currency).split(" ")[0]!.split(".")[1]?.length ?? 0;
    expect(decimals).toBe(currencyExponent(currency));
  });

  it.each(["BIF", "DJF", "GNF", "KMF", "VUV", "XPF"])("%s has no minor unit on the pages", (currency) => {
    expect(money("4000", currency)).toBe(`4\u202f000 ${currency}`);
  });

  it("two-decimal and lower-case currencies match the server too", () => {
    for (const currency of ["UAH", "USD", "EUR", "uah", "jpy", "kwd"]) {
      expect(pageAmount(-98_765n, currency)).toBe(formatMinor(-98_765n, currency));
    }
  });
});
