import { AppError } from "../errors.js";
import { currencyExponent } from "./currencies.js";

export { CURRENCY_EXPONENTS, currencyExponent } from "./currencies.js";

/**
 * Money arithmetic for Twinrail. Every amount is a `bigint` of integer minor units (fiat) or wei
 * (tokens); every rate is an integer number of basis points. This module is the single place where
 * rounding happens: round half to even (banker's rounding), so repeated roundings do not drift upward.
 *
 * Two kinds of failure: input a client sent (`parseMinor`) or a business rule (`refund_exceeds_paid`)
 * throws `AppError`; a broken precondition that the types cannot express (zero denominator, negative
 * weight, fractional bps) is a bug in the caller and throws `RangeError`.
 */

/** Basis points in one whole: 10 000 bps = 100 %. */
export const BPS_DENOMINATOR = 10_000n;

/**
 * `numerator / denominator` rounded to the nearest integer, ties to the even neighbour. Exact for
 * any size and for negative numerators (the rounding is symmetric around zero).
 * @throws RangeError when `denominator <= 0`.
 */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) {
    throw new RangeError(`divideHalfEven: denominator must be positive, got ${denominator}`);
  }
  // BigInt division truncates toward zero and the remainder takes the numerator's sign.
  const quotient = numerator / denominator;
  const remainder = numerator % denominator;
  if (remainder === 0n) return quotient;
  const twiceRemainder = (remainder < 0n ? -remainder : remainder) * 2n;
  const awayFromZero = numerator < 0n ? quotient - 1n : quotient + 1n;
  if (twiceRemainder > denominator) return awayFromZero;
  if (twiceRemainder < denominator) return quotient;
  return quotient % 2n === 0n ? quotient : awayFromZero;
}

function assertBps(bps: number, name = "bps"): void {
  if (!Number.isInteger(bps) || bps < 0 || bps > 10_000) {
    throw new RangeError(`${name} must be an integer between 0 and 10000, got ${bps}`);
  }
}

/** `amount × bps / 10 000`, rounded half-even. `bps` must be an integer in 0–10 000. */
export function applyBps(amount: bigint, bps: number): bigint {
  assertBps(bps);
  return divideHalfEven(amount * BigInt(bps), BPS_DENOMINATOR);
}

/**
 * Splits `total` into parts proportional to `weights` by the largest-remainder method: each part
 * starts at the floor of its exact share, and the units left over go, one each, to the parts with
 * the largest fractional remainders (ties to the lower index). The parts always sum to `total`, and
 * every part is within 1 of its exact share.
 *
 * All-zero weights mean "no preference": `total` is spread evenly (as if every weight were 1), the
 * lowest indexes taking the leftover units. A negative `total` is the mirror image of the positive
 * split. Empty `weights` are only allowed for a zero total.
 * @throws RangeError on a negative weight, or a non-zero total with no weights.
 */
export function allocate(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n) return allocate(-total, weights).map((part) => -part);
  if (weights.length === 0) {
    if (total === 0n) return [];
    throw new RangeError(`allocate: cannot split ${total} over no weights`);
  }
  let weightSum = 0n;
  for (const weight of weights) {
    if (weight < 0n) throw new RangeError(`allocate: weights must be non-negative, got ${weight}`);
    weightSum += weight;
  }
  const effective = weightSum === 0n ? weights.map(() => 1n) : weights;
  const denominator = weightSum === 0n ? BigInt(weights.length) : weightSum;

  const parts: bigint[] = [];
  const remainders: bigint[] = [];
  let assigned = 0n;
  for (const weight of effective) {
    const scaled = total * weight;
    const part = scaled / denominator;
    parts.push(part);
    remainders.push(scaled % denominator);
    assigned += part;
  }
  const leftover = total - assigned; // 0 ≤ leftover < weights.length
  if (leftover > 0n) {
    const order = parts.map((_, index) => index);
    order.sort((a, b) => {
      const ra = remainders[a]!;
      const rb = remainders[b]!;
      if (ra !== rb) return ra > rb ? -1 : 1;
      return a - b;
    });
    let unitsLeft = leftover;
    for (const index of order) {
      if (unitsLeft === 0n) break;
      parts[index] = parts[index]! + 1n;
      unitsLeft -= 1n;
    }
  }
  return parts;
}

const MINOR_PATTERN = /^(0|[1-9][0-9]{0,30})$/;
const WEI_PATTERN = /^(0|[1-9][0-9]{0,77})$/;

function parseDecimal(value: string, field: string, pattern: RegExp, what: string): bigint {
  if (typeof value !== "string" || !pattern.test(value)) {
    throw new AppError(
      "validation_failed",
      `${field} must be ${what} written as a decimal string without sign, leading zeros or fraction (e.g. "12500")`,
      { details: { field } },
    );
  }
  return BigInt(value);
}

/**
 * Parses a wire amount of minor units: a non-negative decimal integer string of at most 31 digits,
 * no sign, no leading zeros, no fraction, no whitespace.
 * @throws AppError("validation_failed") naming `field` otherwise.
 */
export function parseMinor(value: string, field = "amount"): bigint {
  return parseDecimal(value, field, MINOR_PATTERN, "a non-negative integer amount of minor units");
}

/**
 * Parses a wire amount of wei: like `parseMinor` but up to 78 digits (the width of the
 * `numeric(78,0)` column).
 * @throws AppError("validation_failed") naming `field` otherwise.
 */
export function parseWei(value: string, field = "amountWei"): bigint {
  return parseDecimal(value, field, WEI_PATTERN, "a non-negative integer amount of wei");
}

function formatScaled(amount: bigint, decimals: number, trimZeros: boolean): string {
  const sign = amount < 0n ? "-" : "";
  const digits = (amount < 0n ? -amount : amount).toString();
  if (decimals === 0) return sign + digits;
  const padded = digits.padStart(decimals + 1, "0");
  const whole = padded.slice(0, -decimals);
  let fraction = padded.slice(-decimals);
  if (trimZeros) fraction = fraction.replace(/0+$/, "");
  return fraction === "" ? sign + whole : `${sign}${whole}.${fraction}`;
}

/**
 * Human display of a fiat amount, exact: `formatMinor(12500n, "UAH")` → `"125.00 UAH"`,
 * `formatMinor(500n, "JPY")` → `"500 JPY"`, negatives as `"-1.50 USD"`.
 */
export function formatMinor(amount: bigint, currency: string): string {
  const code = currency.toUpperCase();
  return `${formatScaled(amount, currencyExponent(code), false)} ${code}`;
}

/**
 * Exact decimal display of a token amount with trailing zeros dropped:
 * `formatWei(1_500_000_000_000_000_000n)` → `"1.5"`, `formatWei(10n ** 18n)` → `"1"`.
 */
export function formatWei(amount: bigint, decimals = 18): string {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) {
    throw new RangeError(`formatWei: decimals must be an integer between 0 and 255, got ${decimals}`);
  }
  return formatScaled(amount, decimals, true);
}

/**
 * What is left of `original` (a commission or reward derived from a payment of `paidTotal`) once
 * `refundedTotal` of that payment has been refunded in total:
 * `original − divideHalfEven(original × refundedTotal, paidTotal)`.
 *
 * Always pass the cumulative refunded total, never one refund at a time: computing from the running
 * total means many partial refunds round exactly like one refund of their sum, the result never
 * rises as refunds accumulate, a full refund leaves exactly 0, and it is never negative.
 * @throws AppError("refund_exceeds_paid") when `refundedTotal > paidTotal`.
 * @throws RangeError on a negative argument.
 */
export function remainingAfterRefunds(original: bigint, paidTotal: bigint, refundedTotal: bigint): bigint {
  if (original < 0n || paidTotal < 0n || refundedTotal < 0n) {
    throw new RangeError("remainingAfterRefunds: amounts must be non-negative");
  }
  if (refundedTotal > paidTotal) {
    throw new AppError(
      "refund_exceeds_paid",
      `refunds total ${refundedTotal} but only ${paidTotal} was paid; refuse the refund or correct its amount`,
      { details: { paidTotal: paidTotal.toString(), refundedTotal: refundedTotal.toString() } },
    );
  }
  if (refundedTotal === 0n) return original;
  return original - divideHalfEven(original * refundedTotal, paidTotal);
}

/**
 * What is left of a settlement amount (`original`, computed from the order total `orderTotal`) once
 * `refundedTotal` of a payment of `paidTotal` has been refunded. The base is what the settlements
 * stand for: the amount paid when the buyer paid the total or less, the ORDER TOTAL when the buyer
 * paid more. So on an overpaid order a refund is shared against the order total (not against the
 * overpayment), and the settlements are fully refunded once refunds reach the order total — what is
 * refunded beyond it returns the overpayment (suspense). `remainingAfterRefunds` with that base.
 * @throws AppError("refund_exceeds_paid") when `refundedTotal > paidTotal`.
 */
export function remainingAfterOrderRefunds(
  original: bigint,
  paidTotal: bigint,
  orderTotal: bigint,
  refundedTotal: bigint,
): bigint {
  if (orderTotal < 0n) throw new RangeError("remainingAfterOrderRefunds: amounts must be non-negative");
  if (refundedTotal > paidTotal) return remainingAfterRefunds(original, paidTotal, refundedTotal);
  const base = paidTotal < orderTotal ? paidTotal : orderTotal;
  return remainingAfterRefunds(original, base, refundedTotal < base ? refundedTotal : base);
}

/** Whether refunds totalling `refundedTotal` leave nothing of the settlements (see `remainingAfterOrderRefunds`). */
export function settlementsFullyRefunded(
  paidTotal: bigint,
  orderTotal: bigint,
  refundedTotal: bigint,
): boolean {
  const base = paidTotal < orderTotal ? paidTotal : orderTotal;
  return refundedTotal >= base;
}
