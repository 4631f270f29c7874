import { Router } from "express";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { clawbackDebt } from "../../ledger/clawbacks.js";
import { readMemberDashboard } from "../../ledger/queries/member-dashboard.js";
import { listMemberRewards } from "../../ledger/queries/member-rewards.js";
import { toRewardView } from "../../ledger/review-rewards.js";
import type { Services } from "../../services.js";
import { requireMember } from "../middleware/auth.js";
import { readDb } from "../read-source.js";
import { named, route } from "../route.js";
import { decimalString, page, rewardView } from "../schemas.js";
import { rowId } from "../validate.js";
import { registerProgramMemberRoutes } from "./programs.js";

const MEMBER_PAGE = 50;

const meView = named(
  "Me",
  z.object({
    memberId: z.string(),
    displayName: z.string().nullable(),
    code: z.string().nullable(),
    shareUrl: z.string().nullable(),
    visits: z.object({
      total: z.number(),
      today: z.number(),
      last7d: z.number(),
      last28d: z.number(),
      daily: z.array(z.object({ day: z.string(), visits: z.number() })),
    }),
    signups: z.number(),
    conversions: z.number(),
    rewards: z.object({
      pendingApproval: z.number(),
      approved: z.number(),
      minted: z.number(),
      totalMintedWei: decimalString,
    }),
    clawbackDebtWei: decimalString,
    wallet: z.string().nullable(),
  }),
  "The referrer's dashboard",
);

/** A reward as its referrer sees it: without the referrer, the fraud signals and the approver. */
const memberRewardView = rewardView.omit({ referrer: true, fraudSignals: true, approvedBy: true });

/** The referrer's own view (member token). */
export function memberRoutes(services: Services): Router {
  const router = Router();
  const { config } = services;
  router.use("/v1/me", requireMember(services));

  route(
    router,
    {
      method: "get",
      path: "/v1/me",
      summary: "The referrer's code, visits, signups, conversions and rewards",
      tag: "member",
      auth: "member",
      responses: [{ status: 200, description: "the dashboard", schema: meView }],
      errors: ["not_found"],
    },
    async (req, res) => {
      const memberId = req.principal?.kind === "member" ? req.principal.memberId : "";
      const reader = await readDb(services, res);
      const dashboard = await readMemberDashboard(reader, memberId);
      if (!dashboard) throw new AppError("not_found", `member ${memberId} does not exist`);
      const { member, code, visits, daily, totalVisits, signups, conversions, rewards } = dashboard;
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
        clawbackDebtWei: (await clawbackDebt(reader, memberId)).toString(),
        wallet: member.wallet_address,
      } satisfies z.input<typeof meView>);
    },
  );

  route(
    router,
    {
      method: "get",
      path: "/v1/me/rewards",
      summary: "The referrer's reward history",
      tag: "member",
      auth: "member",
      query: z.object({ cursor: rowId.optional() }),
      responses: [{ status: 200, description: "newest first, 50 a page", schema: page(memberRewardView) }],
    },
    async (req, res, { query }) => {
      const memberId = req.principal?.kind === "member" ? req.principal.memberId : "";
      const rows = await listMemberRewards(await readDb(services, res), memberId, {
        cursor: query.cursor ? BigInt(query.cursor) : undefined,
        limit: MEMBER_PAGE,
      });
      const items = rows.slice(0, MEMBER_PAGE);
      res.json({
        items: items.map((row) => {
          const {
            referrer: _referrer,
            fraudSignals: _signals,
            approvedBy: _by,
            ...view
          } = toRewardView(row, null, null);
          return view;
        }),
        nextCursor: rows.length > MEMBER_PAGE ? items[items.length - 1]!.id.toString() : null,
      });
    },
  );

  registerProgramMemberRoutes(router, services);

  return router;
}
