import express, { Router } from "express";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { recordOrderPaid } from "../../ledger/record-order-paid.js";
import { recordWebhook, type WebhookOutcome } from "../../ledger/record-webhook.js";
import { sha256Hex } from "../../lib/crypto.js";
import { verifyWebhook } from "../../lib/standard-webhooks.js";
import type { Services } from "../../services.js";
import { amount, currency, id, parse } from "../validate.js";
import { orderBody } from "./integration.js";

const orderPaid = z.object({
  type: z.literal("order.paid"),
  data: z.object({
    orderReference: id,
    amountPaid: amount,
    currency,
    paymentRail: z.enum(["card", "credit"]),
    paidAt: z.iso.datetime({ offset: true }).transform((value) => new Date(value)),
    order: orderBody.optional(),
  }),
});

const envelope = z.object({ type: z.string().min(1).max(100), data: z.unknown() });

/** Events this service understands but whose handling has not landed yet: refused, not swallowed. */
const NOT_YET = new Set(["order.refunded", "order.chargeback", "membership.paid"]);

/**
 * `POST /v1/webhooks/payments`: Standard Webhooks signature checked on the raw bytes before anything
 * is parsed; then the event and all its effects are recorded in one transaction.
 */
export function webhookRoutes(services: Services): Router {
  const router = Router();
  router.post("/v1/webhooks/payments", express.raw({ type: () => true, limit: "1mb" }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const verdict = verifyWebhook(
      services.config.secrets.webhook,
      {
        id: req.get("webhook-id"),
        timestamp: req.get("webhook-timestamp"),
        signature: req.get("webhook-signature"),
      },
      raw,
    );
    if (!verdict.ok)
      throw new AppError("invalid_signature", `webhook rejected: ${verdict.reason.replace(/_/g, " ")}`);

    let json: unknown;
    try {
      json = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new AppError("bad_request", "the webhook body is not valid JSON");
    }
    const event = parse(envelope, json);
    const eventId = req.get("webhook-id")!;
    if (NOT_YET.has(event.type)) {
      throw new AppError(
        "unprocessable",
        `${event.type} is not handled by this version yet; it was not recorded, retry later`,
      );
    }
    if (event.type !== "order.paid") {
      res.json({ received: true, result: "ignored", reason: `unknown event type ${event.type}` });
      return;
    }
    const paid = parse(orderPaid, json);
    const outcome: WebhookOutcome = await recordWebhook(
      services.db,
      { provider: "payments", eventId, eventType: event.type, payloadHash: sha256Hex(raw) },
      (trx) =>
        recordOrderPaid(
          trx,
          services.config,
          { id: "webhook:payments", requestId: String(req.id) },
          paid.data,
        ),
    );
    res.json({ received: true, ...outcome });
  });
  return router;
}
