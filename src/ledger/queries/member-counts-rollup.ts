import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

/**
 * A referrer's lifetime signups, conversions (paid referred orders) and rewards per status for
 * `/v1/me`, from `referrer_day_rollup` plus its unfolded deltas: one row per day the referrer was
 * active, whatever the number of orders. Same figures as the counts over members/orders/rewards.
 */
export async function readMemberCountsRollup(db: DbOrTx, memberId: string) {
  const { rows } = await sql<{
    signups: string;
    conversions: string;
    pending: string;
    approved: string;
    minted: string;
    minted_wei: string;
  }>`
    SELECT coalesce(sum(signups), 0)::text AS signups, coalesce(sum(paid_orders), 0)::text AS conversions,
           coalesce(sum(pending), 0)::text AS pending, coalesce(sum(approved), 0)::text AS approved,
           coalesce(sum(minted), 0)::text AS minted, coalesce(sum(minted_wei), 0)::text AS minted_wei
    FROM (
      SELECT signups, paid_orders, pending, approved, minted, minted_wei
        FROM referrer_day_rollup WHERE referrer_member_id = ${memberId}
      UNION ALL
      SELECT signups, paid_orders, pending, approved, minted, minted_wei
        FROM referrer_day_deltas WHERE referrer_member_id = ${memberId}) d`.execute(db);
  const row = rows[0]!;
  return {
    signups: { n: row.signups },
    conversions: { n: row.conversions },
    rewards: { pending: row.pending, approved: row.approved, minted: row.minted, minted_wei: row.minted_wei },
  };
}
