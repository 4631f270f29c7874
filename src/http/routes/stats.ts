import { Router } from "express";
import { sql } from "kysely";
import { z } from "zod";
import { utcDay } from "../../attribution/ip-hash.js";
import { AppError } from "../../errors.js";
import { VISIT_DAYS_KEPT } from "../../ledger/prune-visits.js";
import type { Services } from "../../services.js";
import { requireRole } from "../middleware/auth.js";
import { instant, parse } from "../validate.js";

const DAY_MS = 86_400_000;

const num = (value: unknown) => Number(value ?? 0);
const str = (value: unknown) => String(value ?? 0);

/**
 * `GET /v1/admin/stats?from=&to=` (role admin): the referral funnel visits → signups → orders →
 * rewards → minted over [from, to), totals per rail, and the top referrers. Defaults to the last 28
 * days. Visits come from `visit_days`, which keeps 28 days; older ranges report fewer visits.
 */
export function statsRoutes(services: Services): Router {
  const router = Router();
  router.get("/v1/admin/stats", requireRole(services, "admin"), async (req, res) => {
    const query = parse(z.object({ from: instant.optional(), to: instant.optional() }), req.query, "query");
    const to = query.to ? new Date(query.to) : new Date();
    const from = query.from ? new Date(query.from) : new Date(to.getTime() - 28 * DAY_MS);
    if (!(from < to)) {
      throw new AppError("validation_failed", "from must be before to", { details: { field: "from" } });
    }
    const db = services.db;
    // Visit rows are whole UTC days: count the days that overlap [from, to).
    const firstDay = utcDay(from);
    const lastDay = utcDay(new Date(to.getTime() - 1));

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

    const f = funnel.rows[0] ?? {};
    const v = visits.rows[0];
    res.set("cache-control", "no-store").json({
      from: from.toISOString(),
      to: to.toISOString(),
      visitsRetentionDays: VISIT_DAYS_KEPT,
      funnel: {
        visits: num(v?.visits),
        uniqueVisitors: num(v?.unique_visitors),
        signups: num(f.signups),
        orders: num(f.orders),
        paidOrders: num(f.paid_orders),
        rewards: num(f.rewards),
        minted: num(f.minted),
      },
      rails: {
        fiat: fiat.rows.map((row) => ({
          currency: row.currency,
          orders: num(row.orders),
          gross: str(row.gross),
          referralCommission: str(row.referral_commission),
        })),
        token: {
          mintedWei: str(f.minted_wei),
          byStatus: token.rows.map((row) => ({
            paymentRail: row.payment_rail,
            status: row.status,
            rewards: num(row.rewards),
            amountWei: str(row.amount_wei),
          })),
        },
      },
      topReferrers: top.rows.map((row) => ({
        memberId: row.member_id,
        displayName: row.display_name,
        visits: num(row.visits),
        signups: num(row.signups),
        orders: num(row.orders),
        rewardsWei: str(row.rewards_wei),
      })),
    });
  });
  return router;
}
