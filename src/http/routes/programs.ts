import type { Router } from "express";
import { z } from "zod";
import type { Coupon } from "../../db/schema.js";
import { AppError } from "../../errors.js";
import { createCoupon, deactivateCoupon } from "../../ledger/coupons.js";
import { listCoupons } from "../../ledger/queries/coupons.js";
import { listTierRates, readMemberTier } from "../../ledger/queries/tiers.js";
import { setMemberTier, setTierRate } from "../../ledger/tiers.js";
import type { Services } from "../../services.js";
import { actorOf } from "../middleware/auth.js";
import { named, route } from "../route.js";
import { decimalString, isoTime } from "../schemas.js";
import { amount, bps, currency, id, text, timestamp } from "../validate.js";

/**
 * Coupons and commission tiers (issue 14): the integration's coupon routes (registered inside the
 * integration router, behind its key check and idempotency), the admin console's coupon and tier
 * routes (inside the admin router), and the referrer's own view (inside the member router).
 */

export const couponBody = z
  .object({
    code: text(64).nullish(),
    discountBps: z.number().int().min(0).max(10_000).nullish(),
    discountAmount: amount.nullish(),
    currency: currency.nullish(),
    expiresAt: timestamp.nullish(),
    maxRedemptions: z.number().int().min(1).max(1_000_000_000).nullish(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const hasAmount = body.discountAmount !== null && body.discountAmount !== undefined;
    if (hasAmount && body.discountBps !== null && body.discountBps !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["discountBps"],
        message: "give discountBps or discountAmount, not both",
      });
    }
    if (hasAmount !== (body.currency !== null && body.currency !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["currency"],
        message: "currency goes with discountAmount (and only with it)",
      });
    }
    if (body.expiresAt instanceof Date && body.expiresAt.getTime() <= Date.now()) {
      ctx.addIssue({ code: "custom", path: ["expiresAt"], message: "must be in the future" });
    }
  });

/** A tier's name: what `commission_tiers.tier` accepts (0012). */
export const tierName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, "1–32 of a–z, 0–9, _ and -, starting with a letter");
export const tierRateBody = z.object({ vendorId: id.nullish(), commissionBps: bps }).strict();
export const memberTierBody = z.object({ tier: tierName.nullable(), vendorId: id.nullish() }).strict();

const couponView = named(
  "Coupon",
  z.object({
    code: z.string(),
    memberId: z.string(),
    discountBps: z.int().nullable(),
    discountAmount: decimalString.nullable(),
    currency: z.string().nullable(),
    expiresAt: isoTime.nullable(),
    maxRedemptions: z.int().nullable(),
    redemptions: z.int(),
    active: z.boolean(),
    createdAt: isoTime,
  }),
  "A coupon code tied to a referrer",
);
const couponList = z.object({ items: z.array(couponView) });
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

function toCouponView(row: Coupon): z.input<typeof couponView> {
  return {
    code: row.code,
    memberId: row.owner_member_id,
    discountBps: row.discount_bps,
    discountAmount: row.discount_amount === null ? null : row.discount_amount.toString(),
    currency: row.currency,
    expiresAt: row.expires_at ? row.expires_at.toISOString() : null,
    maxRedemptions: row.max_redemptions,
    redemptions: Number(row.redemptions),
    active: row.active,
    createdAt: row.created_at.toISOString(),
  };
}

const COUPON_PAGE = 200;
const memberParams = z.object({ memberId: id });
const couponParams = z.object({ memberId: id, code: text(64, { min: 1 }) });

async function memberTier(services: Services, memberId: string) {
  return { memberId, ...(await readMemberTier(services.db, memberId)) };
}

/** `POST/GET /v1/members/:memberId/coupons`, `POST …/coupons/:code/deactivate` (role integration). */
export function registerCouponRoutes(router: Router, services: Services): void {
  const { db } = services;
  const integration = { tag: "integration", auth: "integration" } as const;
  route(
    router,
    {
      ...integration,
      method: "post",
      path: "/v1/members/:memberId/coupons",
      summary: "Create a coupon code for a referrer",
      params: memberParams,
      body: couponBody,
      responses: [{ status: 201, description: "created", schema: couponView }],
      errors: ["idempotency_conflict", "not_found", "code_taken"],
    },
    async (req, res, { params, body }) => {
      res.status(201).json(toCouponView(await createCoupon(db, actorOf(req), params.memberId, body)));
    },
  );
  route(
    router,
    {
      ...integration,
      method: "get",
      path: "/v1/members/:memberId/coupons",
      summary: "A referrer's coupons, newest first",
      params: memberParams,
      responses: [{ status: 200, description: "at most 200", schema: couponList }],
    },
    async (_req, res, { params }) => {
      const rows = await listCoupons(db, { memberId: params.memberId, limit: COUPON_PAGE });
      res.json({ items: rows.map(toCouponView) });
    },
  );
  route(
    router,
    {
      ...integration,
      method: "post",
      path: "/v1/members/:memberId/coupons/:code/deactivate",
      summary: "Deactivate a referrer's coupon (it redeems no more)",
      params: couponParams,
      responses: [{ status: 200, description: "the coupon now", schema: couponView }],
      errors: ["idempotency_conflict", "not_found"],
    },
    async (req, res, { params }) => {
      const row = await deactivateCoupon(db, actorOf(req), params.code, params.memberId);
      if (!row) throw new AppError("not_found", `member ${params.memberId} has no coupon ${params.code}`);
      res.json(toCouponView(row));
    },
  );
}

/** The admin console's coupons and tiers (role admin, under /v1/admin). */
export function registerProgramAdminRoutes(router: Router, services: Services): void {
  const { db } = services;
  const admin = { tag: "admin", auth: "admin" } as const;
  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/coupons",
      summary: "Coupons, newest first (optionally one referrer's)",
      query: z.object({ memberId: id.optional() }),
      responses: [{ status: 200, description: "at most 200", schema: couponList }],
    },
    async (_req, res, { query }) => {
      const rows = await listCoupons(db, { memberId: query.memberId, limit: COUPON_PAGE });
      res.json({ items: rows.map(toCouponView) });
    },
  );
  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/members/:memberId/coupons",
      summary: "Create a coupon code for a referrer",
      params: memberParams,
      body: couponBody,
      responses: [{ status: 201, description: "created", schema: couponView }],
      errors: ["idempotency_conflict", "not_found", "code_taken"],
    },
    async (req, res, { params, body }) => {
      res.status(201).json(toCouponView(await createCoupon(db, actorOf(req), params.memberId, body)));
    },
  );
  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/coupons/:code/deactivate",
      summary: "Deactivate a coupon",
      params: z.object({ code: text(64, { min: 1 }) }),
      responses: [{ status: 200, description: "the coupon now", schema: couponView }],
      errors: ["idempotency_conflict", "not_found"],
    },
    async (req, res, { params }) => {
      const row = await deactivateCoupon(db, actorOf(req), params.code);
      if (!row) throw new AppError("not_found", `no coupon ${params.code}`);
      res.json(toCouponView(row));
    },
  );
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
  const member = { tag: "member", auth: "member" } as const;
  const me = (req: { principal?: { kind: string; memberId?: string } }) =>
    req.principal?.kind === "member" ? (req.principal.memberId ?? "") : "";
  route(
    router,
    {
      ...member,
      method: "get",
      path: "/v1/me/coupons",
      summary: "The referrer's coupons",
      responses: [{ status: 200, description: "newest first, at most 200", schema: couponList }],
    },
    async (req, res) => {
      const rows = await listCoupons(services.db, { memberId: me(req), limit: COUPON_PAGE });
      res.json({ items: rows.map(toCouponView) });
    },
  );
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
