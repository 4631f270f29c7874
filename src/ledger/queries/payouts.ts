import type { DbOrTx } from "../../db/connect.js";
import type { PayoutStatus } from "../../db/schema.js";

/** Payouts, newest first, optionally of one vendor and one status. */
export async function listPayouts(
  db: DbOrTx,
  filter: { vendorId?: string; status?: PayoutStatus; limit: number },
) {
  let q = db.selectFrom("payouts").selectAll().orderBy("id", "desc").limit(filter.limit);
  if (filter.vendorId) q = q.where("vendor_id", "=", filter.vendorId);
  if (filter.status) q = q.where("status", "=", filter.status);
  return q.execute();
}
