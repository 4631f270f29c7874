import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { type HourSplit, inRanges, splitHours, splitWeeks } from "../rollups/range.js";

/**
 * `readAdminStats` from the rollups (migrations 0015, 0017): the whole UTC days of [from, to) from
 * `stats_day_rollup` and, for the top referrers, `referrer_week_rollup` for the whole ISO weeks and
 * `referrer_day_rollup` for the days around them, the whole hours around them from `stats_hour_rollup`/
 * `referrer_hour_rollup`, each plus its unfolded deltas, and the sub-hour remnants at either end from the
 * rows or as an hour bucket minus the rows of the rest of its hour (`splitHours`: for to = now, a probe of
 * the future). Same result, same shape; cost grows with the days and hours of the range and the
 * referrers active in them, not with the rows. `now` (tests) only picks which way a remnant is read.
 */
export async function readAdminStatsRollup(
  db: DbOrTx,
  range: { from: Date; to: Date; firstDay: string; lastDay: string },
  now: Date = new Date(),
) {
  const split = splitHours(range.from, range.to, now);
  const weeks = splitWeeks(split.days);
  // Three independent statements, sent at once (on PostgreSQL they run on separate connections).
  const visitsQuery = sql<{ visits: unknown; unique_visitors: unknown }>`
      SELECT coalesce(sum(visits), 0) AS visits, coalesce(sum(unique_visitors), 0) AS unique_visitors
      FROM visit_days WHERE day BETWEEN ${range.firstDay}::date AND ${range.lastDay}::date`;
  const metricsQuery = sql<{ metric: string; key: string; n: string; amount: string; amount2: string }>`
      WITH d AS (
        SELECT metric, key, n, amount, amount2 FROM stats_day_rollup WHERE ${inDays(split)}
        UNION ALL SELECT metric, key, n, amount, amount2 FROM stats_hour_rollup WHERE ${inRanges("hour", split.hours)}
        UNION ALL SELECT metric, key, n, amount, amount2 FROM stats_day_deltas WHERE ${inDeltas(split)}
        ${unionAll(split, metricRows)})
      SELECT metric, key, sum(n)::text AS n, sum(amount)::text AS amount, sum(amount2)::text AS amount2
      FROM d GROUP BY metric, key ORDER BY metric, key`;
  const topQuery = sql<Record<string, unknown>>`
      WITH d AS (
        SELECT referrer_member_id AS member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_week_rollup WHERE ${inDateRanges("week", weeks.weeks ? [weeks.weeks] : [])}
        UNION ALL SELECT referrer_member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_day_rollup WHERE ${inDateRanges("day", weeks.days)}
        UNION ALL SELECT referrer_member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_hour_rollup WHERE ${inRanges("hour", split.hours)}
        UNION ALL SELECT referrer_member_id, signups, orders, live_rewards, rewards_wei
          FROM referrer_day_deltas WHERE ${inDeltas(split)}
        ${unionAll(split, referrerRows)}),
      a AS (
        SELECT member_id, sum(signups) AS signups, sum(orders) AS orders, sum(live_rewards) AS live,
               sum(rewards_wei) AS rewards_wei
        FROM d GROUP BY member_id HAVING sum(signups) > 0 OR sum(orders) > 0 OR sum(live_rewards) > 0),
      v AS (
        SELECT c.owner_member_id AS member_id, sum(d.visits) AS visits
        FROM visit_days d JOIN referral_codes c ON c.code = d.code
        WHERE d.day BETWEEN ${range.firstDay}::date AND ${range.lastDay}::date
        GROUP BY c.owner_member_id),
      ids AS (SELECT member_id FROM a UNION SELECT member_id FROM v),
      -- Every id is a member (foreign keys), so the names are looked up for the ten only.
      top AS (
        SELECT ids.member_id, coalesce(v.visits, 0) AS visits, coalesce(a.signups, 0) AS signups,
               coalesce(a.orders, 0) AS orders, CASE WHEN a.live > 0 THEN a.rewards_wei ELSE 0 END AS rewards_wei
        FROM ids LEFT JOIN a ON a.member_id = ids.member_id LEFT JOIN v ON v.member_id = ids.member_id
        ORDER BY 4 DESC, 5 DESC, 3 DESC, 2 DESC, ids.member_id
        LIMIT 10)
      SELECT top.member_id, (SELECT m.display_name FROM members m WHERE m.member_id = top.member_id) AS display_name,
             top.visits, top.signups, top.orders, top.rewards_wei
      FROM top
      ORDER BY top.orders DESC, top.rewards_wei DESC, top.signups DESC, top.visits DESC, top.member_id`;
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

/** `column` (a date) falls in one of the `YYYY-MM-DD` half-open ranges (false when there is none). */
function inDateRanges(column: string, ranges: Array<{ from: string; to: string }>) {
  if (ranges.length === 0) return sql<boolean>`false`;
  return sql<boolean>`(${sql.join(
    ranges.map((r) => sql`(${sql.ref(column)} >= ${r.from}::date AND ${sql.ref(column)} < ${r.to}::date)`),
    sql` OR `,
  )})`;
}

/** The whole days of the split, on a `day` column. */
function inDays(split: HourSplit) {
  if (!split.days) return sql<boolean>`false`;
  return sql<boolean>`(day >= ${split.days.firstDay}::date AND day < ${split.days.endDay}::date)`;
}

/**
 * The unfolded deltas of the split's days and hours (deltas written before 0017 carry no hour: their
 * rows are in the hour rollups already, so they count for their day only).
 */
function inDeltas(split: HourSplit) {
  return sql<boolean>`(${inDays(split)} OR (hour IS NOT NULL AND ${inRanges("hour", split.hours)}))`;
}

type RowRange = HourSplit["rows"][number];

function unionAll(split: HourSplit, rows: (range: RowRange) => RawBuilder<unknown>) {
  return sql.join(
    split.rows.map((range) => sql`UNION ALL ${rows(range)}`),
    sql` `,
  );
}

/** The stats metrics of the rows whose instant is in `range`, times its sign. */
function metricRows({ from, to, sign }: RowRange) {
  const s = sql.lit(sign);
  const at = (column: string) => sql`${sql.ref(column)} >= ${from} AND ${sql.ref(column)} < ${to}`;
  return sql`SELECT 'signups', '', ${s} * count(*), 0, 0 FROM members WHERE ${at("attributed_at")}
        UNION ALL SELECT 'orders', '', ${s} * count(*), 0, 0 FROM orders WHERE referral_applied AND ${at("created_at")}
        UNION ALL SELECT 'paid_orders', '', ${s} * count(*), 0, 0 FROM orders
          WHERE referral_applied AND status <> 'created' AND ${at("paid_at")}
        UNION ALL SELECT 'rewards', '', ${s} * count(*), 0, 0 FROM referral_rewards WHERE ${at("created_at")}
        UNION ALL SELECT 'minted', '', ${s} * count(*), ${s} * coalesce(sum(amount_wei), 0), 0 FROM referral_rewards
          WHERE status = 'minted' AND ${at("minted_at")}
        UNION ALL SELECT 'token', payment_rail || ':' || status, ${s} * count(*), ${s} * sum(amount_wei), 0
          FROM referral_rewards WHERE ${at("created_at")} GROUP BY payment_rail, status
        UNION ALL SELECT 'fiat', currency, ${s} * count(DISTINCT order_reference), ${s} * sum(gross),
               ${s} * sum(referral_commission)
          FROM settlements WHERE referral_commission > 0 AND ${at("created_at")} GROUP BY currency`;
}

/** The top-referrer columns of the rows whose instant is in `range`, times its sign. */
function referrerRows({ from, to, sign }: RowRange) {
  const s = sql.lit(sign);
  const at = (column: string) => sql`${sql.ref(column)} >= ${from} AND ${sql.ref(column)} < ${to}`;
  return sql`SELECT referred_by_member_id, ${s}, 0, 0, 0 FROM members
          WHERE referred_by_member_id IS NOT NULL AND ${at("attributed_at")}
        UNION ALL SELECT referrer_member_id, 0, ${s}, 0, 0 FROM orders WHERE referral_applied AND ${at("created_at")}
        UNION ALL SELECT referrer_member_id, 0, 0, ${s}, ${s} * amount_wei FROM referral_rewards
          WHERE status NOT IN ('rejected', 'cancelled') AND ${at("created_at")}`;
}
