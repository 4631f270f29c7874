import type { RateSource } from "./enums.js";

/**
 * Commission rate resolution. A line's referral rate comes from the most specific configuration that
 * sets one: product override → the referrer's commission tier (in this vendor's program, else
 * platform-wide) → vendor config → platform default, then clamped to the platform maximum. The
 * product override comes first because it prices one product's margin (0 = "never pays commission")
 * and a tier must not raise it; a tier beats the vendor's default because it is the more specific
 * agreement (with this referrer). The result (rate and source) is snapshotted on the order line at checkout and reused at
 * payment, so a later configuration change never re-prices an order.
 */

/** Which configuration level supplied a line's commission rate (RATE_SOURCES). */
export type { RateSource } from "./enums.js";

/** Input to `resolveCommissionBps`; `null`/`undefined` means "not configured at this level". */
export interface CommissionRateInput {
  productBps?: number | null;
  /** The referrer's tier rate for this line's vendor (see `pickTierRate`), with the tier's name. */
  tier?: { tier: string; bps: number } | null;
  vendorBps?: number | null;
  platformDefaultBps: number;
  maxBps: number;
}

/** A resolved commission rate in basis points and the level it came from. */
export interface ResolvedCommissionRate {
  bps: number;
  source: RateSource;
  /** The tier that set the rate (source `tier` only). */
  tier?: string;
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
      : input.tier
        ? { bps: input.tier.bps, source: "tier", tier: input.tier.tier }
        : input.vendorBps !== null && input.vendorBps !== undefined
          ? { bps: input.vendorBps, source: "vendor" }
          : { bps: input.platformDefaultBps, source: "platform" };
  const max = Math.max(0, input.maxBps);
  return { ...picked, bps: Math.min(Math.max(picked.bps, 0), max) };
}

/** Where a vendor-independent tier assignment or tier rate is stored (`vendor_id = '*'`). */
export const ANY_VENDOR = "*";

/**
 * The referrer's tier rate for one vendor: the referrer's tier in this vendor's program, else their
 * platform-wide tier; that tier's rate for this vendor, else its platform-wide rate. Undefined when
 * the referrer has no tier or the tier has no rate (the chain falls through to the vendor).
 */
export function pickTierRate(
  memberTiers: ReadonlyArray<{ vendor_id: string; tier: string }>,
  tierRates: ReadonlyArray<{ tier: string; vendor_id: string; commission_bps: number }>,
  vendorId: string,
): { tier: string; bps: number } | undefined {
  const assigned =
    memberTiers.find((row) => row.vendor_id === vendorId) ??
    memberTiers.find((row) => row.vendor_id === ANY_VENDOR);
  if (!assigned) return undefined;
  const rate =
    tierRates.find((row) => row.tier === assigned.tier && row.vendor_id === vendorId) ??
    tierRates.find((row) => row.tier === assigned.tier && row.vendor_id === ANY_VENDOR);
  return rate ? { tier: assigned.tier, bps: rate.commission_bps } : undefined;
}
