import type { DbOrTx } from "../../db/connect.js";
import { ANY_VENDOR, pickTierRate } from "../../domain/rates.js";

/** Every tier rate, by tier then vendor (`*` = platform-wide). */
export async function listTierRates(db: DbOrTx) {
  return db.selectFrom("commission_tiers").selectAll().orderBy("tier").orderBy("vendor_id").execute();
}

/**
 * A member's tier and what it pays: the platform-wide tier and its rate, and per vendor program where
 * it differs (a vendor-specific tier, or a vendor-specific rate of the platform-wide tier). A rate of
 * null means the tier sets none there (the vendor's or the platform's rate applies).
 */
export async function readMemberTier(db: DbOrTx, memberId: string) {
  const assigned = await db
    .selectFrom("member_tiers")
    .select(["vendor_id", "tier"])
    .where("member_id", "=", memberId)
    .execute();
  const tiers = [...new Set(assigned.map((row) => row.tier))];
  const rates =
    tiers.length > 0
      ? await db
          .selectFrom("commission_tiers")
          .select(["tier", "vendor_id", "commission_bps"])
          .where("tier", "in", tiers)
          .execute()
      : [];
  const platform = assigned.find((row) => row.vendor_id === ANY_VENDOR)?.tier ?? null;
  const vendors = new Set<string>([
    ...assigned.filter((row) => row.vendor_id !== ANY_VENDOR).map((row) => row.vendor_id),
    ...rates
      .filter((row) => row.tier === platform && row.vendor_id !== ANY_VENDOR)
      .map((row) => row.vendor_id),
  ]);
  return {
    tier: platform,
    commissionBps: pickTierRate(assigned, rates, ANY_VENDOR)?.bps ?? null,
    vendors: [...vendors].sort().map((vendorId) => {
      const tier = assigned.find((row) => row.vendor_id === vendorId)?.tier ?? platform;
      return { vendorId, tier, commissionBps: pickTierRate(assigned, rates, vendorId)?.bps ?? null };
    }),
  };
}
