import type { Router } from "express";
import { z } from "zod";
import type { Coupon } from "../../db/schema.js";
import { AppError } from "../../errors.js";
import { createCoupon, deactivateCoupon } from "../../ledger/coupons.js";
import { listCoupons } from "../../ledger/queries/coupons.js";
import type { Services } from "../../services.js";
import { actorOf } from "../middleware/auth.js";
import { named, route } from "../route.js";
import { decimalString, isoTime } from "../schemas.js";
import { amount, currency, id, text, timestamp } from "../validate.js";

/** Coupon codes tied to a referrer (issue 14): integration, admin and member routes. */

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

/** The admin console's coupon routes (role admin, under /v1/admin). */
export function registerCouponAdminRoutes(router: Router, services: Services): void {
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
}

/** The referrer's coupons (member token, under /v1/me). */
export function registerCouponMemberRoutes(router: Router, services: Services): void {
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
}
