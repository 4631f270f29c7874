import type { Router } from "express";
import { z } from "zod";
import { listTierRates, readMemberTier } from "../../ledger/queries/tiers.js";
import { setMemberTier, setTierRate } from "../../ledger/tiers.js";
import type { Services } from "../../services.js";
import { actorOf } from "../middleware/auth.js";
import { named, route } from "../route.js";
import { isoTime } from "../schemas.js";
import { bps, id } from "../validate.js";
import { registerCouponAdminRoutes, registerCouponMemberRoutes } from "./coupons.js";

/**
 * Coupons and commission tiers (issue 14): the integration's coupon routes (registered inside the
 * integration router, behind its key check and idempotency), the admin console's coupon and tier
 * routes (inside the admin router), and the referrer's own view (inside the member router).
 */

/** A tier's name: what `commission_tiers.tier` accepts (0012). */
export const tierName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, "1–32 of a–z, 0–9, _ and -, starting with a letter");
export const tierRateBody = z.object({ vendorId: id.nullish(), commissionBps: bps }).strict();
export const memberTierBody = z.object({ tier: tierName.nullable(), vendorId: id.nullish() }).strict();

const tierRateView = named(
  "TierRate",
  z.object({
    tier: z.string(),
    vendorId: z.string().nullable(),
    commissionBps: z.int(),
    updatedAt: isoTime,
  }),
  "A commission tier's rate, platform-wide (vendorId null) or in one vendor's program",
);
export const memberTierView = named(
  "MemberTier",
  z.object({
    memberId: z.string(),
    tier: z.string().nullable(),
    commissionBps: z.int().nullable(),
    vendors: z.array(
      z.object({ vendorId: z.string(), tier: z.string().nullable(), commissionBps: z.int().nullable() }),
    ),
  }),
  "A referrer's commission tier and the rate it sets (null: the vendor's or the platform's rate applies)",
);

const memberParams = z.object({ memberId: id });

async function memberTier(services: Services, memberId: string) {
  return { memberId, ...(await readMemberTier(services.db, memberId)) };
}

/** The admin console's coupons and tiers (role admin, under /v1/admin). */
export function registerProgramAdminRoutes(router: Router, services: Services): void {
  const { db } = services;
  const admin = { tag: "admin", auth: "admin" } as const;
  registerCouponAdminRoutes(router, services);
  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/tiers",
      summary: "Commission tier rates",
      responses: [
        { status: 200, description: "every tier rate", schema: z.object({ items: z.array(tierRateView) }) },
      ],
    },
    async (_req, res) => {
      const rows = await listTierRates(db);
      res.json({
        items: rows.map((row) => ({
          tier: row.tier,
          vendorId: row.vendor_id === "*" ? null : row.vendor_id,
          commissionBps: row.commission_bps,
          updatedAt: row.updated_at.toISOString(),
        })),
      });
    },
  );
  route(
    router,
    {
      ...admin,
      method: "put",
      path: "/v1/admin/tiers/:tier",
      summary: "Set a tier's rate, platform-wide or for one vendor's program (new orders only)",
      params: z.object({ tier: tierName }),
      body: tierRateBody,
      responses: [{ status: 200, description: "the rate now", schema: tierRateView }],
      errors: ["idempotency_conflict", "unprocessable"],
    },
    async (req, res, { params, body }) => {
      const row = await setTierRate(db, actorOf(req), { tier: params.tier, ...body });
      res.json({
        tier: row.tier,
        vendorId: row.vendor_id === "*" ? null : row.vendor_id,
        commissionBps: row.commission_bps,
        updatedAt: row.updated_at.toISOString(),
      });
    },
  );
  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/members/:memberId/tier",
      summary: "A referrer's tier and rates",
      params: memberParams,
      responses: [{ status: 200, description: "the tier", schema: memberTierView }],
    },
    async (_req, res, { params }) => {
      res.json(await memberTier(services, params.memberId));
    },
  );
  route(
    router,
    {
      ...admin,
      method: "put",
      path: "/v1/admin/members/:memberId/tier",
      summary: "Put a referrer in a tier (platform-wide or one vendor's program), or out (tier null)",
      params: memberParams,
      body: memberTierBody,
      responses: [{ status: 200, description: "the tier now", schema: memberTierView }],
      errors: ["idempotency_conflict", "not_found", "unprocessable"],
    },
    async (req, res, { params, body }) => {
      await setMemberTier(db, actorOf(req), params.memberId, body);
      res.json(await memberTier(services, params.memberId));
    },
  );
}

/** The referrer's coupons and tier (member token, under /v1/me). */
export function registerProgramMemberRoutes(router: Router, services: Services): void {
  registerCouponMemberRoutes(router, services);
  const member = { tag: "member", auth: "member" } as const;
  const me = (req: { principal?: { kind: string; memberId?: string } }) =>
    req.principal?.kind === "member" ? (req.principal.memberId ?? "") : "";
  route(
    router,
    {
      ...member,
      method: "get",
      path: "/v1/me/tier",
      summary: "The referrer's commission tier and the rate it pays",
      responses: [{ status: 200, description: "the tier", schema: memberTierView }],
    },
    async (req, res) => {
      res.json(await memberTier(services, me(req)));
    },
  );
}
