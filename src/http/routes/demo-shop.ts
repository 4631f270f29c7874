import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { type Request, Router } from "express";
import { z } from "zod";
import { TEXT_MAX } from "../../db/limits.js";
import { AppError } from "../../errors.js";
import { createApiKey } from "../../ledger/api-keys.js";
import { SYSTEM } from "../../ledger/audit.js";
import { orderResult } from "../../ledger/create-order.js";
import { parseCookies, REF_COOKIE } from "../../lib/cookies.js";
import { signWebhook } from "../../lib/standard-webhooks.js";
import type { Services } from "../../services.js";
import { route } from "../route.js";
import { orderResultView, webhookResult } from "../schemas.js";
import { id, text } from "../validate.js";

/** The demo storefront's catalogue: the products `seedDemo` registers, with prices the shop owns. */
export const DEMO_PRODUCTS = [
  {
    productId: "p_novel",
    vendorId: "v_books",
    vendorName: "Bookshelf",
    name: "The Long Night — a novel",
    blurb: "Hardcover, 412 pages. Referral rate set per product (10 %).",
    unitAmount: "25000",
  },
  {
    productId: "p_atlas",
    vendorId: "v_books",
    vendorName: "Bookshelf",
    name: "World Atlas, 2025 edition",
    blurb: "Large format, 180 maps. Platform default referral rate.",
    unitAmount: "40000",
  },
  {
    productId: "p_chess",
    vendorId: "v_games",
    vendorName: "Game Den",
    name: "Walnut chess set",
    blurb: "Hand-carved pieces, folding board. Vendor referral rate (8 %).",
    unitAmount: "120000",
  },
] as const;
const CURRENCY = "UAH";
/** The demo shop's coupon rule (the host applies discounts; Twinrail records them): 10 % off. */
const DEMO_COUPON_BPS = 1000n;

const checkoutBody = z.object({
  buyerId: id,
  buyerName: text(TEXT_MAX.displayName, { trim: true, min: 1 }).optional(),
  refCode: text(64).nullish(),
  // A coupon code the shopper typed: the shop's own rule takes DEMO_COUPON_BPS off the merchandise.
  couponCode: text(64).nullish(),
  items: z
    .array(z.object({ productId: text(64), quantity: z.number().int().min(1).max(20) }))
    .min(1)
    .max(10),
});

/**
 * The shape of a signed `tw_ref` value (`CODE.<issued>.<base64url hmac>`, see lib/cookies.ts): anything
 * else is not forwarded, since it could not be genuine and may not even be a valid header value.
 */
const signedRefCookie = z.string().regex(/^[A-Za-z0-9_.-]{1,512}$/);

/**
 * Demo only (mounted when `config.demo`): plays the host marketplace's backend for the `/shop/` page.
 * It holds its own integration key server-side and calls the public API like any host would —
 * `POST /v1/members`, `POST /v1/orders` — so no credential ever reaches the browser. "Pay" plays the
 * payment provider and sends a signed `order.paid` webhook.
 */
export function demoShopRoutes(services: Services): Router {
  const router = Router();
  let integrationKey: Promise<string> | undefined;
  const key = () => {
    integrationKey ??= createApiKey(services.db, SYSTEM, {
      role: "integration",
      label: "demo shop backend",
    }).then((created) => created.key);
    return integrationKey;
  };

  // The API of this very process, over loopback: the shop talks to Twinrail only through HTTP.
  const self = (req: Request) => {
    const address = req.socket.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  };

  const call = async (req: Request, method: string, pathname: string, body: unknown, headers = {}) => {
    const raw = typeof body === "string" ? body : JSON.stringify(body);
    const res = await fetch(`${self(req)}${pathname}`, {
      method,
      headers: { "content-type": "application/json", "x-request-id": String(req.id), ...headers },
      body: raw,
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    return { status: res.status, body: json };
  };

  const demo = { tag: "demo shop", auth: "none" } as const;

  route(
    router,
    {
      ...demo,
      method: "get",
      path: "/demo-shop/api/products",
      summary: "The demo storefront's catalogue (demo mode only)",
      responses: [
        {
          status: 200,
          description: "products with the shop's prices",
          schema: z.object({
            currency: z.string(),
            items: z.array(
              z.object({
                productId: z.string(),
                vendorId: z.string(),
                vendorName: z.string(),
                name: z.string(),
                blurb: z.string(),
                unitAmount: z.string(),
              }),
            ),
          }),
        },
      ],
    },
    (_req, res) => {
      res.json({ currency: CURRENCY, items: DEMO_PRODUCTS });
    },
  );

  route(
    router,
    {
      ...demo,
      method: "post",
      path: "/demo-shop/api/checkout",
      summary: "Demo checkout: signs the buyer up and posts the order, as a host backend would",
      body: checkoutBody,
      responses: [
        {
          status: 201,
          description: "the order (200 for a repeat); a refused signup or order passes its problem through",
          schema: orderResultView.extend({ currency: z.string() }),
        },
      ],
      errors: ["validation_failed", "order_conflict", "unprocessable", "idempotency_conflict"],
    },
    async (req, res, { body }) => {
      const lines = body.items.map((item, index) => {
        const product = DEMO_PRODUCTS.find((p) => p.productId === item.productId);
        if (!product) throw new AppError("validation_failed", `unknown product ${item.productId}`);
        return {
          lineId: `l${index + 1}`,
          vendorId: product.vendorId,
          productId: product.productId,
          quantity: item.quantity,
          unitAmount: product.unitAmount,
        };
      });
      const bearer = { authorization: `Bearer ${await key()}` };
      // A host forwards its visitor's signed first-touch cookie; the explicit code is the snippet's.
      const forwarded = signedRefCookie.safeParse(parseCookies(req.get("cookie"))[REF_COOKIE]);
      const signedRef = forwarded.success ? forwarded.data : undefined;
      const cookie = signedRef ? { cookie: `${REF_COOKIE}=${signedRef}` } : {};

      const signup = await call(
        req,
        "POST",
        "/v1/members",
        { memberId: body.buyerId, displayName: body.buyerName ?? null, refCode: body.refCode ?? null },
        { ...bearer, ...cookie },
      );
      if (signup.status >= 300) {
        res.status(signup.status).json(signup.body);
        return;
      }
      const orderReference = `shop_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
      const order = await call(
        req,
        "POST",
        "/v1/orders",
        {
          orderReference,
          buyerMemberId: body.buyerId,
          refCode: body.refCode ?? null,
          currency: CURRENCY,
          lines,
          shippingAmount: "0",
          ...(body.couponCode
            ? {
                couponCode: body.couponCode,
                discountAmount: (
                  (lines.reduce((sum, line) => sum + BigInt(line.unitAmount) * BigInt(line.quantity), 0n) *
                    DEMO_COUPON_BPS) /
                  10_000n
                ).toString(),
              }
            : { discountAmount: "0" }),
        },
        { ...bearer, ...cookie },
      );
      res.status(order.status).json(order.status < 300 ? { ...order.body, currency: CURRENCY } : order.body);
    },
  );

  route(
    router,
    {
      ...demo,
      method: "post",
      path: "/demo-shop/api/orders/:orderReference/pay",
      summary: "Demo payment: sends a signed order.paid webhook for the order's total",
      params: z.object({ orderReference: id }),
      responses: [{ status: 200, description: "the webhook's answer", schema: webhookResult }],
      errors: ["not_found", "webhook_conflict", "order_conflict", "unprocessable"],
    },
    async (req, res, { params: { orderReference } }) => {
      const order = await orderResult(services.db, orderReference).catch(() => undefined);
      if (!order) throw new AppError("not_found", `order ${orderReference} does not exist`);
      const event = {
        type: "order.paid",
        data: {
          orderReference,
          amountPaid: order.totals.gross,
          currency: CURRENCY,
          paymentRail: "card",
          paidAt: new Date().toISOString(),
        },
      };
      const raw = JSON.stringify(event);
      const webhookId = `evt_demo_${randomBytes(8).toString("hex")}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const delivered = await call(req, "POST", "/v1/webhooks/payments", raw, {
        "webhook-id": webhookId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(services.config.secrets.webhook, webhookId, timestamp, raw),
      });
      res.status(delivered.status).json(delivered.body);
    },
  );

  return router;
}
