import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { inDays, inEdges, splitDays } from "../rollups/range.js";

/**
 * `readAdminStats` from the day rollups (migration 0015): the whole UTC days of [from, to) from
 * `stats_day_rollup`/`referrer_day_rollup` plus their unfolded deltas, the partial first and last day
 * from the rows (indexed on the instant). Same result, same shape; cost grows with the days in the
 * range and the referrers active in it, not with the rows.
 */
export async function readAdminStatsRollup(
  db: DbOrTx,
  range: { from: Date; to: Date; firstDay: string; lastDay: string },
) {
  const split = splitDays(range.from, range.to);
  // Three independent statements, sent at once (on PostgreSQL they run on separate connections).
  const visitsQuery = sql<{ visits: unknown; unique_visitors: unknown }>`
      SELECT coalesce(sum(visits), 0) AS visits, coalesce(sum(unique_visitors), 0) AS unique_visitors
      FROM visit_days WHERE day BETWEEN ${range.firstDay}::date AND ${range.lastDay}::date`;
  const metricsQuery = sql<{ metric: string; key: string; n: string; amount: string; amount2: string }>`
      WITH d AS (
        SELECT metric, key, n, amount, amount2 FROM stats_day_rollup WHERE ${inDays("day", split)}
        UNION ALL SELECT metric, key, n, amount, amount2 FROM stats_day_deltas WHERE ${inDays("day", split)}
        UNION ALL SELECT 'signups', '', count(*), 0, 0 FROM members WHERE ${inEdges("attributed_at", split)}
        UNION ALL SELECT 'orders', '', count(*), 0, 0 FROM orders
          WHERE referral_applied AND ${inEdges("created_at", split)}
        UNION ALL SELECT 'paid_orders', '', count(*), 0, 0 FROM orders
          WHERE referral_applied AND status <> 'created' AND ${inEdges("paid_at", split)}
        UNION ALL SELECT 'rewards', '', count(*), 0, 0 FROM referral_rewards WHERE ${inEdges("created_at", split)}
        UNION ALL SELECT 'minted', '', count(*), coalesce(sum(amount_wei), 0), 0 FROM referral_rewards
          WHERE status = 'minted' AND ${inEdges("minted_at", split)}
        UNION ALL SELECT 'token', payment_rail || ':' || status, count(*), sum(amount_wei), 0 FROM referral_rewards
          WHERE ${inEdges("created_at", split)} GROUP BY payment_rail, status
        UNION ALL SELECT 'fiat', currency, count(DISTINCT order_reference), sum(gross), sum(referral_commission)
          FROM settlements WHERE referral_commission > 0 AND ${inEdges("created_at", split)} GROUP BY currency)
      SELECT metric, key, sum(n)::text AS n, sum(amount)::text AS amount, sum(amount2)::text AS amount2
      FROM d GROUP BY metric, key ORDER BY metric, key`;
  const topQuery = sql<Record<string, unknown>>`
      WITH d AS (
        SELECT referrer_member_id AS member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_day_rollup WHERE ${inDays("day", split)}
        UNION ALL SELECT referrer_member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_day_deltas WHERE ${inDays("day", split)}
        UNION ALL SELECT referred_by_member_id, 1, 0, 0, 0 FROM members
          WHERE referred_by_member_id IS NOT NULL AND ${inEdges("attributed_at", split)}
        UNION ALL SELECT referrer_member_id, 0, 1, 0, 0 FROM orders
          WHERE referral_applied AND ${inEdges("created_at", split)}
        UNION ALL SELECT referrer_member_id, 0, 0, 1, amount_wei FROM referral_rewards
          WHERE status NOT IN ('rejected', 'cancelled') AND ${inEdges("created_at", split)}),
      a AS (
        SELECT member_id, sum(signups) AS signups, sum(orders) AS orders, sum(live_rewards) AS live,
               sum(rewards_wei) AS rewards_wei
        FROM d GROUP BY member_id HAVING sum(signups) > 0 OR sum(orders) > 0 OR sum(live_rewards) > 0),
      v AS (
        SELECT c.owner_member_id AS member_id, sum(d.visits) AS visits
        FROM visit_days d JOIN referral_codes c ON c.code = d.code
        WHERE d.day BETWEEN ${range.firstDay}::date AND ${range.lastDay}::date
        GROUP BY c.owner_member_id),
      ids AS (SELECT member_id FROM a UNION SELECT member_id FROM v)
      SELECT ids.member_id, m.display_name, coalesce(v.visits, 0) AS visits, coalesce(a.signups, 0) AS signups,
             coalesce(a.orders, 0) AS orders,
             CASE WHEN a.live > 0 THEN a.rewards_wei ELSE 0 END AS rewards_wei
      FROM ids JOIN members m ON m.member_id = ids.member_id
      LEFT JOIN a ON a.member_id = ids.member_id LEFT JOIN v ON v.member_id = ids.member_id
      ORDER BY coalesce(a.orders, 0) DESC, CASE WHEN a.live > 0 THEN a.rewards_wei ELSE 0 END DESC,
               coalesce(a.signups, 0) DESC, coalesce(v.visits, 0) DESC, ids.member_id
      LIMIT 10`;
  const [visits, metrics, top] = await Promise.all([
    visitsQuery.execute(db),
    metricsQuery.execute(db),
    topQuery.execute(db),
  ]);
  const value = (metric: string, key = "") => metrics.rows.find((r) => r.metric === metric && r.key === key);
  const funnel: Record<string, unknown> = {
    signups: value("signups")?.n ?? "0",
    orders: value("orders")?.n ?? "0",
    paid_orders: value("paid_orders")?.n ?? "0",
    rewards: value("rewards")?.n ?? "0",
    minted: value("minted")?.n ?? "0",
    minted_wei: value("minted")?.amount ?? "0",
  };
  const fiat = metrics.rows
    .filter((r) => r.metric === "fiat" && r.n !== "0")
    .map((r) => ({ currency: r.key, orders: r.n, gross: r.amount, referral_commission: r.amount2 }));
  const token = metrics.rows
    .filter((r) => r.metric === "token" && r.n !== "0")
    .map((r) => {
      const [payment_rail, status] = r.key.split(":");
      return { payment_rail, status, rewards: r.n, amount_wei: r.amount };
    });
  return { visits: visits.rows[0], funnel, fiat, token, top: top.rows };
}
