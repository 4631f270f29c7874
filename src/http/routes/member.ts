import { Router } from "express";
import { sql } from "kysely";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { clawbackDebt } from "../../ledger/clawbacks.js";
import { toRewardView } from "../../ledger/review-rewards.js";
import type { Services } from "../../services.js";
import { requireMember } from "../middleware/auth.js";
import { parse, rowId } from "../validate.js";

/** The referrer's own view (member token). */
export function memberRoutes(services: Services): Router {
  const router = Router();
  const { db, config } = services;
  router.use("/v1/me", requireMember(services));

  router.get("/v1/me", async (req, res) => {
    const memberId = req.principal?.kind === "member" ? req.principal.memberId : "";
    const member = await db
      .selectFrom("members")
      .selectAll()
      .where("member_id", "=", memberId)
      .executeTakeFirst();
    if (!member) throw new AppError("not_found", `member ${memberId} does not exist`);
    const code = await db
      .selectFrom("referral_codes")
      .select(["code", "visits_total"])
      .where("owner_member_id", "=", memberId)
      .where("active", "=", true)
      .executeTakeFirst();
    const visits = await db
      .selectFrom("visit_days as v")
      .innerJoin("referral_codes as c", "c.code", "v.code")
      .select([
        // Visit days are UTC days (see visit-buffer.ts), whatever the session's TimeZone.
        sql<string>`coalesce(sum(v.visits) filter (where v.day = (now() at time zone 'utc')::date), 0)`.as(
          "today",
        ),
        sql<string>`coalesce(sum(v.visits) filter (where v.day > (now() at time zone 'utc')::date - 7), 0)`.as(
          "last7d",
        ),
        sql<string>`coalesce(sum(v.visits) filter (where v.day > (now() at time zone 'utc')::date - 28), 0)`.as(
          "last28d",
        ),
      ])
      .where("c.owner_member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    // The last 28 UTC days, oldest first, for the dashboard's chart (days without visits omitted).
    const daily = await db
      .selectFrom("visit_days as v")
      .innerJoin("referral_codes as c", "c.code", "v.code")
      .select([sql<string>`to_char(v.day, 'YYYY-MM-DD')`.as("day"), sql<string>`sum(v.visits)`.as("visits")])
      .where("c.owner_member_id", "=", memberId)
      .where(sql<boolean>`v.day > (now() at time zone 'utc')::date - 28`)
      .groupBy("v.day")
      .orderBy("v.day")
      .execute();
    const totalVisits = await db
      .selectFrom("referral_codes")
      .select(sql<string>`coalesce(sum(visits_total), 0)`.as("total"))
      .where("owner_member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    const signups = await db
      .selectFrom("members")
      .select((eb) => eb.fn.countAll<bigint>().as("n"))
      .where("referred_by_member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    const conversions = await db
      .selectFrom("orders")
      .select((eb) => eb.fn.countAll<bigint>().as("n"))
      .where("referrer_member_id", "=", memberId)
      .where("status", "<>", "created")
      .executeTakeFirstOrThrow();
    const rewards = await db
      .selectFrom("referral_rewards")
      .select([
        sql<string>`count(*) filter (where status = 'pending_approval')`.as("pending"),
        sql<string>`count(*) filter (where status = 'approved' or status = 'minting')`.as("approved"),
        sql<string>`count(*) filter (where status = 'minted')`.as("minted"),
        sql<string>`coalesce(sum(amount_wei) filter (where status = 'minted'), 0)`.as("minted_wei"),
      ])
      .where("referrer_member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    res.json({
      memberId,
      displayName: member.display_name,
      code: code?.code ?? null,
      shareUrl: code ? `${config.publicBaseUrl}/r/${code.code}` : null,
      visits: {
        total: Number(totalVisits.total),
        today: Number(visits.today),
        last7d: Number(visits.last7d),
        last28d: Number(visits.last28d),
        daily: daily.map((row) => ({ day: row.day, visits: Number(row.visits) })),
      },
      signups: Number(signups.n),
      conversions: Number(conversions.n),
      rewards: {
        pendingApproval: Number(rewards.pending),
        approved: Number(rewards.approved),
        minted: Number(rewards.minted),
        totalMintedWei: String(rewards.minted_wei),
      },
      clawbackDebtWei: (await clawbackDebt(db, memberId)).toString(),
      wallet: member.wallet_address,
    });
  });

  router.get("/v1/me/rewards", async (req, res) => {
    const memberId = req.principal?.kind === "member" ? req.principal.memberId : "";
    const query = parse(
      z.object({
        cursor: rowId.optional(),
      }),
      req.query,
      "query",
    );
    let q = db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("referrer_member_id", "=", memberId)
      .orderBy("id", "desc")
      .limit(51);
    if (query.cursor) q = q.where("id", "<", BigInt(query.cursor));
    const rows = await q.execute();
    const page = rows.slice(0, 50);
    res.json({
      items: page.map((row) => {
        const {
          referrer: _referrer,
          fraudSignals: _signals,
          approvedBy: _by,
          ...view
        } = toRewardView(row, null, null);
        return view;
      }),
      nextCursor: rows.length > 50 ? page[page.length - 1]!.id.toString() : null,
    });
  });

  return router;
}
