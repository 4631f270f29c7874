import express, { Router } from "express";
import { z } from "zod";
import type { DbOrTx } from "../../db/connect.js";
import { DISPUTE_ID_MAX, TEXT_MAX } from "../../db/limits.js";
import { DISPUTE_STATUSES, PAYMENT_RAILS } from "../../domain/enums.js";
import { AppError } from "../../errors.js";
import { OrderPaidBatcher } from "../../ledger/order-paid-batcher.js";
import { recordChargeback } from "../../ledger/record-chargeback.js";
import { recordMembershipPaid } from "../../ledger/record-membership-paid.js";
import { recordMembershipRefund } from "../../ledger/record-membership-refund.js";
import { recordOrderPaid } from "../../ledger/record-order-paid.js";
import { recordRefund } from "../../ledger/record-refund.js";
import { recordWebhook, type WebhookOutcome } from "../../ledger/record-webhook.js";
import { sha256Hex } from "../../lib/crypto.js";
import { verifyWebhook } from "../../lib/standard-webhooks.js";
import type { Services } from "../../services.js";
import { route } from "../route.js";
import { webhookResult } from "../schemas.js";
import { amount, currency, id, parse, text, timestamp } from "../validate.js";
import { orderBody } from "./integration.js";

export const orderPaid = z.object({
  type: z.literal("order.paid"),
  data: z.object({
    orderReference: id,
    amountPaid: amount,
    currency,
    paymentRail: z.enum(PAYMENT_RAILS),
    paidAt: timestamp,
    order: orderBody.optional(),
  }),
});

/** `order_refunds.refund_id` (its CHECK, via `TEXT_MAX.refundId`). */
const refundId = text(TEXT_MAX.refundId, { min: 1 });
/**
 * `disputes.dispute_id`, and room for the refund id a lost dispute derives from it
 * (`dispute:<disputeId>` in `order_refunds.refund_id`): see `DISPUTE_ID_MAX`.
 */
const disputeId = text(DISPUTE_ID_MAX, { min: 1 });
/** The `webhook-id` header, stored as `webhook_events.event_id`. */
const webhookIdHeader = z.string().max(TEXT_MAX.webhookEventId).optional();

export const orderRefunded = z.object({
  type: z.literal("order.refunded"),
  data: z.object({
    orderReference: id,
    refundId,
    amountRefunded: amount.refine((value) => value > 0n, "must be positive"),
    refundedAt: timestamp,
  }),
});

export const orderChargeback = z.object({
  type: z.literal("order.chargeback"),
  data: z.object({
    orderReference: id,
    disputeId,
    status: z.enum(DISPUTE_STATUSES),
    amount,
  }),
});

export const membershipPaid = z.object({
  type: z.literal("membership.paid"),
  data: z.object({
    memberId: id,
    membershipReference: id,
    /** 1 = the first payment (default); n > 1 = a renewal, recorded as `membershipReference#n`. */
    period: z.number().int().min(1).max(10_000).optional(),
    amountPaid: amount,
    currency,
    paidAt: timestamp,
  }),
});

export const membershipRefunded = z.object({
  type: z.literal("membership.refunded"),
  data: z.object({
    membershipReference: id,
    period: z.number().int().min(1).max(10_000).optional(),
    refundId,
    amountRefunded: amount.refine((value) => value > 0n, "must be positive"),
    refundedAt: timestamp,
  }),
});

const envelope = z.object({ type: text(100, { min: 1 }), data: z.unknown() });

const HANDLED = new Set([
  "order.paid",
  "order.refunded",
  "order.chargeback",
  "membership.paid",
  "membership.refunded",
]);

export const PAYMENTS_WEBHOOK = {
  method: "post",
  path: "/v1/webhooks/payments",
  summary: "Payment events (Standard Webhooks signature)",
  tag: "webhook",
  auth: "webhook",
  // The signature covers the raw bytes: the handler verifies them, then parses the event.
  body: z.union([orderPaid, orderRefunded, orderChargeback, membershipPaid, membershipRefunded]),
  bodyMode: "raw",
  responses: [{ status: 200, description: "recorded, duplicate or ignored", schema: webhookResult }],
  errors: [
    "webhook_conflict",
    "order_conflict",
    "unprocessable",
    "refund_exceeds_paid",
    "invalid_transition",
    "validation_failed",
  ],
  // The signature needs the raw bytes: this router is mounted before the JSON parser.
  middleware: [express.raw({ type: () => true, limit: "1mb" })],
} as const;

/**
 * `POST /v1/webhooks/payments`: Standard Webhooks signature checked on the raw bytes before anything
 * is parsed; then the event and all its effects are recorded in one transaction.
 */
export function webhookRoutes(services: Services): Router {
  const router = Router();
  const batcher = new OrderPaidBatcher(services.db, services.config, {
    maxBatch: services.config.INGEST_BATCH_MAX,
    maxInFlight: services.config.INGEST_BATCH_IN_FLIGHT,
    overlapMin: services.config.INGEST_BATCH_OVERLAP_MIN,
    overlapWaitMs: services.config.INGEST_BATCH_OVERLAP_WAIT_MS,
    logger: services.logger,
  });
  route(router, PAYMENTS_WEBHOOK, async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // Checked before the signature: an id the event table cannot hold is a 400 whoever sent it.
    parse(webhookIdHeader, req.get("webhook-id"), "header.webhook-id");
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
    const delivery = { provider: "payments", eventId, eventType: event.type, payloadHash: sha256Hex(raw) };
    if (event.type === "order.paid") {
      const paid = parse(orderPaid, json).data;
      // With its order, a delivery may share a transaction with others (group commit); without, the
      // order exists already and the one-event path records it.
      const outcome = paid.order
        ? await batcher.record({ delivery, event: { ...paid, order: paid.order }, actor })
        : await recordWebhook(services.db, delivery, (trx) =>
            recordOrderPaid(trx, services.config, actor, paid),
          );
      res.json({ received: true, ...outcome });
      return;
    }
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
          const refund = parse(membershipRefunded, json);
          return (trx: DbOrTx) => recordMembershipRefund(trx, services.config, actor, refund.data);
        }
      }
    })();
    const outcome: WebhookOutcome = await recordWebhook(services.db, delivery, handle);
    res.json({ received: true, ...outcome });
  });
  return router;
}
