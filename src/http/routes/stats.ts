import { Router } from "express";
import { z } from "zod";
import { utcDay } from "../../attribution/ip-hash.js";
import { AppError } from "../../errors.js";
import { VISIT_DAYS_KEPT } from "../../ledger/prune-visits.js";
import { readAdminStatsRollup } from "../../ledger/queries/admin-stats-rollup.js";
import type { Services } from "../../services.js";
import { requireRole } from "../middleware/auth.js";
import { readDb } from "../read-source.js";
import { named, route } from "../route.js";
import { decimalString } from "../schemas.js";
import { instant } from "../validate.js";

const DAY_MS = 86_400_000;

const num = (value: unknown) => Number(value ?? 0);
const str = (value: unknown) => String(value ?? 0);

const statsView = named(
  "AdminStats",
  z.object({
    from: z.string(),
    to: z.string(),
    visitsRetentionDays: z.int(),
    funnel: z.object({
      visits: z.number(),
      uniqueVisitors: z.number(),
      signups: z.number(),
      orders: z.number(),
      paidOrders: z.number(),
      rewards: z.number(),
      minted: z.number(),
    }),
    rails: z.object({
      fiat: z.array(
        z.object({
          currency: z.string(),
          orders: z.number(),
          gross: decimalString,
          referralCommission: decimalString,
        }),
      ),
      token: z.object({
        mintedWei: decimalString,
        byStatus: z.array(
          z.object({
            paymentRail: z.string(),
            status: z.string(),
            rewards: z.number(),
            amountWei: decimalString,
          }),
        ),
      }),
    }),
    topReferrers: z.array(
      z.object({
        memberId: z.string(),
        displayName: z.string().nullable(),
        visits: z.number(),
        signups: z.number(),
        orders: z.number(),
        rewardsWei: decimalString,
      }),
    ),
  }),
);

/**
 * `GET /v1/admin/stats?from=&to=` (role admin): the referral funnel visits → signups → orders →
 * rewards → minted over [from, to), totals per rail, and the top referrers. Defaults to the last 28
 * days. Visits come from `visit_days`, which keeps 28 days; older ranges report fewer visits.
 */
export function statsRoutes(services: Services): Router {
  const router = Router();
  route(
    router,
    {
      method: "get",
      path: "/v1/admin/stats",
      summary: "Funnel, totals per rail, top referrers",
      tag: "admin",
      auth: "admin",
      query: z.object({ from: instant.optional(), to: instant.optional() }),
      responses: [{ status: 200, description: "the stats over [from, to)", schema: statsView }],
      middleware: [requireRole(services, "admin")],
    },
    async (_req, res, { query }) => {
      const to = query.to ? new Date(query.to) : new Date();
      const from = query.from ? new Date(query.from) : new Date(to.getTime() - 28 * DAY_MS);
      if (!(from < to)) {
        throw new AppError("validation_failed", "from must be before to", { details: { field: "from" } });
      }
      // Visit rows are whole UTC days: count the days that overlap [from, to).
      const firstDay = utcDay(from);
      const lastDay = utcDay(new Date(to.getTime() - 1));
      const {
        visits: v,
        funnel: f,
        fiat,
        token,
        top,
      } = await readAdminStatsRollup(await readDb(services, res), {
        from,
        to,
        firstDay,
        lastDay,
      });

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
          fiat: fiat.map((row) => ({
            currency: row.currency,
            orders: num(row.orders),
            gross: str(row.gross),
            referralCommission: str(row.referral_commission),
          })),
          token: {
            mintedWei: str(f.minted_wei),
            byStatus: token.map((row) => ({
              paymentRail: row.payment_rail,
              status: row.status,
              rewards: num(row.rewards),
              amountWei: str(row.amount_wei),
            })),
          },
        },
        topReferrers: top.map((row) => ({
          memberId: row.member_id,
          displayName: row.display_name,
          visits: num(row.visits),
          signups: num(row.signups),
          orders: num(row.orders),
          rewardsWei: str(row.rewards_wei),
        })),
      });
    },
  );
  return router;
}
