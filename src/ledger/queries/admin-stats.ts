import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

/**
 * The admin stats over [from, to): visits of the UTC days firstDay..lastDay (`visit_days` rows are whole
 * days), the funnel counts, fiat totals per currency, token rewards per rail and status, and the top 10
 * referrers. Counts and sums arrive as the drivers return them; the route turns them into numbers.
 */
export async function readAdminStats(
  db: DbOrTx,
  range: { from: Date; to: Date; firstDay: string; lastDay: string },
) {
  const { from, to, firstDay, lastDay } = range;
  const visits = await sql<{ visits: unknown; unique_visitors: unknown }>`
      SELECT coalesce(sum(visits), 0) AS visits, coalesce(sum(unique_visitors), 0) AS unique_visitors
      FROM visit_days WHERE day BETWEEN ${firstDay}::date AND ${lastDay}::date`.execute(db);
  const funnel = await sql<Record<string, unknown>>`
      SELECT
        (SELECT count(*) FROM members WHERE attributed_at >= ${from} AND attributed_at < ${to}) AS signups,
        (SELECT count(*) FROM orders WHERE referral_applied AND created_at >= ${from} AND created_at < ${to}) AS orders,
        (SELECT count(*) FROM orders WHERE referral_applied AND status <> 'created'
           AND paid_at >= ${from} AND paid_at < ${to}) AS paid_orders,
        (SELECT count(*) FROM referral_rewards WHERE created_at >= ${from} AND created_at < ${to}) AS rewards,
        (SELECT count(*) FROM referral_rewards WHERE status = 'minted'
           AND minted_at >= ${from} AND minted_at < ${to}) AS minted,
        (SELECT coalesce(sum(amount_wei), 0) FROM referral_rewards WHERE status = 'minted'
           AND minted_at >= ${from} AND minted_at < ${to}) AS minted_wei`.execute(db);
  const fiat = await sql<Record<string, unknown>>`
      SELECT currency, count(DISTINCT order_reference) AS orders, coalesce(sum(gross), 0) AS gross,
             coalesce(sum(referral_commission), 0) AS referral_commission
      FROM settlements WHERE created_at >= ${from} AND created_at < ${to} AND referral_commission > 0
      GROUP BY currency ORDER BY currency`.execute(db);
  const token = await sql<Record<string, unknown>>`
      SELECT payment_rail, status, count(*) AS rewards, coalesce(sum(amount_wei), 0) AS amount_wei
      FROM referral_rewards WHERE created_at >= ${from} AND created_at < ${to}
      GROUP BY payment_rail, status ORDER BY payment_rail, status`.execute(db);
  const top = await sql<Record<string, unknown>>`
      WITH o AS (
        SELECT referrer_member_id AS member_id, count(*) AS orders
        FROM orders WHERE referral_applied AND created_at >= ${from} AND created_at < ${to}
        GROUP BY referrer_member_id),
      s AS (
        SELECT referred_by_member_id AS member_id, count(*) AS signups
        FROM members WHERE attributed_at >= ${from} AND attributed_at < ${to}
        GROUP BY referred_by_member_id),
      r AS (
        SELECT referrer_member_id AS member_id, coalesce(sum(amount_wei), 0) AS rewards_wei
        FROM referral_rewards WHERE created_at >= ${from} AND created_at < ${to}
          AND status NOT IN ('rejected', 'cancelled')
        GROUP BY referrer_member_id),
      v AS (
        SELECT c.owner_member_id AS member_id, sum(d.visits) AS visits
        FROM visit_days d JOIN referral_codes c ON c.code = d.code
        WHERE d.day BETWEEN ${firstDay}::date AND ${lastDay}::date
        GROUP BY c.owner_member_id),
      ids AS (SELECT member_id FROM o UNION SELECT member_id FROM s UNION SELECT member_id FROM r
              UNION SELECT member_id FROM v)
      SELECT ids.member_id, m.display_name, coalesce(v.visits, 0) AS visits, coalesce(s.signups, 0) AS signups,
             coalesce(o.orders, 0) AS orders, coalesce(r.rewards_wei, 0) AS rewards_wei
      FROM ids JOIN members m ON m.member_id = ids.member_id
      LEFT JOIN o ON o.member_id = ids.member_id LEFT JOIN s ON s.member_id = ids.member_id
      LEFT JOIN r ON r.member_id = ids.member_id LEFT JOIN v ON v.member_id = ids.member_id
      ORDER BY coalesce(o.orders, 0) DESC, coalesce(r.rewards_wei, 0) DESC, coalesce(s.signups, 0) DESC,
               coalesce(v.visits, 0) DESC, ids.member_id
      LIMIT 10`.execute(db);
  return {
    visits: visits.rows[0],
    funnel: funnel.rows[0] ?? {},
    fiat: fiat.rows,
    token: token.rows,
    top: top.rows,
  };
}
