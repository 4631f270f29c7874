import type { RateSource } from "./enums.js";

/**
 * Commission rate resolution. A line's referral rate comes from the most specific configuration that
 * sets one: product override → vendor config → platform default, then clamped to the platform
 * maximum. The result (rate and source) is snapshotted on the order line at checkout and reused at
 * payment, so a later configuration change never re-prices an order.
 */

/** Which configuration level supplied a line's commission rate (RATE_SOURCES). */
export type { RateSource } from "./enums.js";

/** Input to `resolveCommissionBps`; `null`/`undefined` means "not configured at this level". */
export interface CommissionRateInput {
  productBps?: number | null;
  vendorBps?: number | null;
  platformDefaultBps: number;
  maxBps: number;
}

/** A resolved commission rate in basis points and the level it came from. */
export interface ResolvedCommissionRate {
  bps: number;
  source: RateSource;
}

/**
 * Resolves a line's commission rate: the product override if set (0 is a real override meaning "no
 * commission"), else the vendor's rate, else the platform default; then clamped to `[0, maxBps]`.
 * Clamping does not change `source`: it still names the level that supplied the value.
 */
export function resolveCommissionBps(input: CommissionRateInput): ResolvedCommissionRate {
  const picked: ResolvedCommissionRate =
    input.productBps !== null && input.productBps !== undefined
      ? { bps: input.productBps, source: "product" }
      : input.vendorBps !== null && input.vendorBps !== undefined
        ? { bps: input.vendorBps, source: "vendor" }
        : { bps: input.platformDefaultBps, source: "platform" };
  const max = Math.max(0, input.maxBps);
  return { bps: Math.min(Math.max(picked.bps, 0), max), source: picked.source };
}
