import type { DbOrTx } from "../../db/connect.js";

/** A member's coupons (newest first), or every coupon when `memberId` is undefined; at most `limit`. */
export async function listCoupons(db: DbOrTx, filter: { memberId?: string; limit: number }) {
  let q = db
    .selectFrom("coupons")
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("code")
    .limit(filter.limit);
  if (filter.memberId !== undefined) q = q.where("owner_member_id", "=", filter.memberId);
  return q.execute();
}
