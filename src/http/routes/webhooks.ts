import express, { Router } from "express";
import { z } from "zod";
import type { DbOrTx } from "../../db/connect.js";
import { AppError } from "../../errors.js";
import { recordChargeback } from "../../ledger/record-chargeback.js";
import { recordMembershipPaid } from "../../ledger/record-membership-paid.js";
import { recordOrderPaid } from "../../ledger/record-order-paid.js";
import { recordRefund } from "../../ledger/record-refund.js";
import { recordWebhook, type WebhookOutcome } from "../../ledger/record-webhook.js";
import { sha256Hex } from "../../lib/crypto.js";
import { verifyWebhook } from "../../lib/standard-webhooks.js";
import type { Services } from "../../services.js";
import { amount, currency, id, parse } from "../validate.js";
import { orderBody } from "./integration.js";

export const orderPaid = z.object({
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

const timestamp = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
const eventKey = z.string().min(1).max(256);

export const orderRefunded = z.object({
  type: z.literal("order.refunded"),
  data: z.object({
    orderReference: id,
    refundId: eventKey,
    amountRefunded: amount.refine((value) => value > 0n, "must be positive"),
    refundedAt: timestamp,
  }),
});

export const orderChargeback = z.object({
  type: z.literal("order.chargeback"),
  data: z.object({
    orderReference: id,
    disputeId: eventKey,
    status: z.enum(["opened", "won", "lost"]),
    amount,
  }),
});

export const membershipPaid = z.object({
  type: z.literal("membership.paid"),
  data: z.object({
    memberId: id,
    membershipReference: id,
    amountPaid: amount,
    currency,
    paidAt: timestamp,
  }),
});

const envelope = z.object({ type: z.string().min(1).max(100), data: z.unknown() });

const HANDLED = new Set(["order.paid", "order.refunded", "order.chargeback", "membership.paid"]);

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
    if (!HANDLED.has(event.type)) {
      res.json({ received: true, result: "ignored", reason: `unknown event type ${event.type}` });
      return;
    }
    const actor = { id: "webhook:payments", requestId: String(req.id) };
    // Parsed before the transaction opens: a malformed event is a 400 and nothing is recorded.
    const handle = (() => {
      switch (event.type) {
        case "order.refunded": {
          const refund = parse(orderRefunded, json);
          return (trx: DbOrTx) => recordRefund(trx, actor, refund.data);
        }
        case "order.chargeback": {
          const chargeback = parse(orderChargeback, json);
          return (trx: DbOrTx) => recordChargeback(trx, actor, chargeback.data);
        }
        case "membership.paid": {
          const membership = parse(membershipPaid, json);
          return (trx: DbOrTx) => recordMembershipPaid(trx, services.config, actor, membership.data);
        }
        default: {
          const paid = parse(orderPaid, json);
          return (trx: DbOrTx) => recordOrderPaid(trx, services.config, actor, paid.data);
        }
      }
    })();
    const outcome: WebhookOutcome = await recordWebhook(
      services.db,
      { provider: "payments", eventId, eventType: event.type, payloadHash: sha256Hex(raw) },
      handle,
    );
    res.json({ received: true, ...outcome });
  });
  return router;
}
