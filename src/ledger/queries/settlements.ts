import type { DbOrTx } from "../../db/connect.js";
import type { SettlementStatus } from "../../db/schema.js";

/** All vendors' settlements, newest first, optionally of one vendor and one status. */
export async function listSettlements(
  db: DbOrTx,
  filter: { vendorId?: string; status?: SettlementStatus; limit: number },
) {
  let q = db.selectFrom("settlements").selectAll().orderBy("id", "desc").limit(filter.limit);
  if (filter.vendorId) q = q.where("vendor_id", "=", filter.vendorId);
  if (filter.status) q = q.where("status", "=", filter.status);
  return q.execute();
}
