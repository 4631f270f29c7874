import { type Request, Router } from "express";
import { z } from "zod";
import { AMOUNT_MAX, HOLD_DAYS_MAX, PLATFORM_FEE_BPS_MAX, QUANTITY_MAX, TEXT_MAX } from "../../db/limits.js";
import { AppError } from "../../errors.js";
import { createOrder } from "../../ledger/create-order.js";
import { issueCode } from "../../ledger/issue-code.js";
import { registerMember, updateMember } from "../../ledger/register-member.js";
import { upsertProduct, upsertVendor } from "../../ledger/upsert-catalog.js";
import { parseCookies, REF_COOKIE, verifyCookieValue } from "../../lib/cookies.js";
import type { Services } from "../../services.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { named, route } from "../route.js";
import { orderResultView } from "../schemas.js";
import { amount, bps, currency, id, text, wallet } from "../validate.js";
import { registerCouponRoutes } from "./coupons.js";

export const memberBody = z.object({
  memberId: id,
  displayName: text(TEXT_MAX.displayName, { trim: true, min: 1 }).nullish(),
  walletAddress: wallet.nullish(),
  refCode: text(256).nullish(),
  clickId: text(256).nullish(),
  // The end user's address as the host saw it (for caps and fraud signals); stored only as a keyed hash.
  clientIp: z.union([z.ipv4(), z.ipv6()]).nullish(),
});

export const orderBody = z
  .object({
    orderReference: id,
    buyerMemberId: id.nullish(),
    refCode: text(256).nullish(),
    clickId: text(256).nullish(),
    // A coupon the buyer typed (issue 14); the host applies its discount (discountAmount).
    couponCode: text(256).nullish(),
    currency,
    lines: z
      .array(
        z.object({
          lineId: id,
          vendorId: id,
          productId: id.nullish(),
          // The API's own cap, well inside the integer column (QUANTITY_MAX).
          quantity: z.number().int().positive().max(Math.min(1_000_000, QUANTITY_MAX)),
          unitAmount: amount,
        }),
      )
      .min(1)
      .max(500),
    shippingAmount: amount.default(0n),
    discountAmount: amount.default(0n),
    clientIp: z.union([z.ipv4(), z.ipv6()]).nullish(),
  })
  .superRefine((order, ctx) => {
    // The amounts the database derives (0001_init.sql: order_lines.subtotal, orders.merchandise_amount,
    // orders.gross_amount) are bigint too: refused here, before the transaction, not by an overflow.
    // zod runs this even when a field failed above, so only a well-typed body is summed.
    if (!Array.isArray(order.lines)) return;
    const amounts = [
      order.shippingAmount,
      order.discountAmount,
      ...order.lines.map((line) => line?.unitAmount),
    ];
    if (amounts.some((value) => typeof value !== "bigint")) return;
    if (order.lines.some((line) => !Number.isSafeInteger(line.quantity))) return;
    let merchandise = 0n;
    let lineOverflow = false;
    for (const [index, line] of order.lines.entries()) {
      const subtotal = BigInt(line.quantity) * line.unitAmount;
      if (subtotal > AMOUNT_MAX) {
        lineOverflow = true;
        ctx.addIssue({
          code: "custom",
          path: ["lines", index, "unitAmount"],
          message: `quantity × unitAmount = ${subtotal} exceeds ${AMOUNT_MAX}`,
        });
      }
      merchandise += subtotal;
    }
    if (lineOverflow) return;
    if (merchandise > AMOUNT_MAX) {
      ctx.addIssue({
        code: "custom",
        path: ["lines"],
        message: `the line subtotals sum to ${merchandise}, above ${AMOUNT_MAX}`,
      });
      return;
    }
    const gross = merchandise - order.discountAmount + order.shippingAmount;
    if (gross > AMOUNT_MAX) {
      ctx.addIssue({
        code: "custom",
        path: ["shippingAmount"],
        message: `merchandise − discount + shipping = ${gross} exceeds ${AMOUNT_MAX}`,
      });
    }
  });

export const memberPatchBody = memberBody.pick({ displayName: true, walletAddress: true }).strict();
export const codeBody = z.object({ rotate: z.boolean().optional(), vanity: text(64).optional() });
export const vendorBody = z.object({
  name: text(TEXT_MAX.vendorName, { trim: true, min: 1 }),
  referralCommissionBps: bps.nullish(),
  platformFeeBps: z.number().int().min(0).max(PLATFORM_FEE_BPS_MAX),
  holdDays: z.number().int().min(0).max(HOLD_DAYS_MAX),
});
export const productBody = z.object({ vendorId: id, referralCommissionBps: bps.nullable() });

const memberResultView = named(
  "MemberRegistration",
  z.object({
    memberId: z.string(),
    referredBy: z
      .object({ code: z.string(), memberId: z.string(), source: z.string(), attributedAt: z.string() })
      .nullable(),
    attribution: z.object({ applied: z.boolean(), reason: z.string().optional() }),
  }),
);
const codeView = named("ReferralCode", z.object({ code: z.string(), shareUrl: z.string() }));

/** The host backend's surface (role `integration`). */
export function integrationRoutes(services: Services): Router {
  const router = Router();
  const { db, config } = services;
  router.use("/v1/members", requireRole(services, "integration"), idempotency(services));
  router.use(
    ["/v1/vendors", "/v1/products", "/v1/orders"],
    requireRole(services, "integration", "admin"),
    idempotency(services),
  );

  // The host forwards its visitor's signed first-touch cookie; honoured exactly as long as /r/ set it for.
  const forwardedCookieCode = (req: Request) =>
    verifyCookieValue(config.secrets.cookie, parseCookies(req.get("cookie"))[REF_COOKIE], {
      maxAgeDays: config.REF_COOKIE_DAYS,
    });

  const integration = { tag: "integration", auth: "integration" } as const;

  route(
    router,
    {
      ...integration,
      method: "post",
      path: "/v1/members",
      summary: "Signup: create a member and persist referredBy (first touch)",
      body: memberBody,
      responses: [
        { status: 201, description: "created", schema: memberResultView },
        {
          status: 200,
          description: "already registered: referredBy unchanged (first touch)",
          schema: memberResultView,
        },
      ],
      errors: ["idempotency_conflict"],
    },
    async (req, res, { body }) => {
      const cookieCode = forwardedCookieCode(req);
      const result = await registerMember(db, actorOf(req), { ...body, cookieCode }, { config });
      const { created, ...payload } = result;
      res.status(created ? 201 : 200).json(payload);
    },
  );

  route(
    router,
    {
      ...integration,
      method: "patch",
      path: "/v1/members/:memberId",
      summary: "Update display name or wallet",
      params: z.object({ memberId: id }),
      body: memberPatchBody,
      responses: [
        {
          status: 200,
          description: "the member now",
          schema: z.object({
            memberId: z.string(),
            displayName: z.string().nullable(),
            walletAddress: z.string().nullable(),
          }),
        },
      ],
      errors: ["not_found"],
    },
    async (req, res, { params, body }) => {
      const member = await updateMember(db, actorOf(req), params.memberId, body);
      if (!member) throw new AppError("not_found", `member ${params.memberId} does not exist`);
      res.json({
        memberId: member.member_id,
        displayName: member.display_name,
        walletAddress: member.wallet_address,
      });
    },
  );

  route(
    router,
    {
      ...integration,
      method: "post",
      path: "/v1/members/:memberId/code",
      summary: "Get, rotate or claim (vanity) the member's referral code",
      params: z.object({ memberId: id }),
      body: codeBody,
      bodyMode: "optional",
      responses: [
        { status: 201, description: "a code was issued", schema: codeView },
        { status: 200, description: "the member's active code", schema: codeView },
      ],
      errors: ["idempotency_conflict", "not_found", "code_taken"],
    },
    async (req, res, { params, body }) => {
      const result = await issueCode(db, actorOf(req), params.memberId, body);
      res
        .status(result.created ? 201 : 200)
        .json({ code: result.code, shareUrl: `${config.publicBaseUrl}/r/${result.code}` });
    },
  );

  route(
    router,
    {
      ...integration,
      method: "put",
      path: "/v1/vendors/:vendorId",
      summary: "Create or replace a vendor's terms",
      params: z.object({ vendorId: id }),
      body: vendorBody,
      responses: [
        {
          status: 200,
          description: "the vendor now",
          schema: z.object({
            vendorId: z.string(),
            name: z.string(),
            referralCommissionBps: z.int().nullable(),
            platformFeeBps: z.int(),
            holdDays: z.int(),
          }),
        },
      ],
    },
    async (req, res, { params, body }) => {
      const vendor = await upsertVendor(db, actorOf(req), { vendorId: params.vendorId, ...body });
      res.json({
        vendorId: vendor.vendor_id,
        name: vendor.name,
        referralCommissionBps: vendor.referral_commission_bps,
        platformFeeBps: vendor.platform_fee_bps,
        holdDays: vendor.hold_days,
      });
    },
  );

  route(
    router,
    {
      ...integration,
      method: "put",
      path: "/v1/products/:productId",
      summary: "Create or replace a product's commission override",
      params: z.object({ productId: id }),
      body: productBody,
      responses: [
        {
          status: 200,
          description: "the product now",
          schema: z.object({
            productId: z.string(),
            vendorId: z.string(),
            referralCommissionBps: z.int().nullable(),
          }),
        },
      ],
      errors: ["unprocessable"],
    },
    async (req, res, { params, body }) => {
      const product = await upsertProduct(db, actorOf(req), { productId: params.productId, ...body });
      res.json({
        productId: product.product_id,
        vendorId: product.vendor_id,
        referralCommissionBps: product.referral_commission_bps,
      });
    },
  );

  route(
    router,
    {
      ...integration,
      method: "post",
      path: "/v1/orders",
      summary: "Checkout: attribution and rates snapshotted",
      body: orderBody,
      responses: [
        { status: 201, description: "created", schema: orderResultView },
        { status: 200, description: "the same body again: the same result", schema: orderResultView },
      ],
      errors: ["idempotency_conflict", "order_conflict", "unprocessable"],
    },
    async (req, res, { body: { clientIp, ...body } }) => {
      const cookieCode = forwardedCookieCode(req);
      const { created, ...result } = await createOrder(db, config, actorOf(req), body, {
        cookieCode,
        clientIp,
      });
      res.status(created ? 201 : 200).json(result);
    },
  );

  registerCouponRoutes(router, services);

  return router;
}
