import { Router } from "express";
import { z } from "zod";
import { inTransaction } from "../../db/transaction.js";
import { AppError } from "../../errors.js";
import { listWebhookDeliveries } from "../../ledger/queries/webhook-deliveries.js";
import { retryDelivery } from "../../ledger/webhook-deliveries.js";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  enableWebhookEndpoint,
  listWebhookEndpoints,
  rotateWebhookSecret,
} from "../../ledger/webhook-endpoints.js";
import type { Services } from "../../services.js";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/events.js";
import type { WebhookEndpoint } from "../../webhooks/tables.js";
import { targetProblem } from "../../webhooks/targets.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { named, route } from "../route.js";
import { isoTime } from "../schemas.js";
import { rowId } from "../validate.js";

const eventType = z.enum(WEBHOOK_EVENT_TYPES);

const endpointView = named(
  "WebhookEndpoint",
  z.object({
    id: z.string(),
    url: z.string(),
    events: z.array(eventType).describe("empty: every event type"),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    disabledAt: isoTime.nullable(),
    failingSince: isoTime.nullable(),
    previousSecretExpiresAt: isoTime.nullable().describe("until then the previous secret signs too"),
    createdAt: isoTime,
  }),
  "Where outbound webhooks go (the secret is shown only at creation and rotation)",
);
const endpointWithSecret = named(
  "WebhookEndpointWithSecret",
  endpointView.extend({ secret: z.string().describe("whsec_… (Standard Webhooks); shown once") }),
);

const deliveryStatus = z.enum(["pending", "delivered", "failed"]);
const deliveryView = named(
  "WebhookDelivery",
  z.object({
    id: z.string(),
    webhookId: z.string().describe("the webhook-id header, the same at every attempt"),
    eventType: z.string(),
    status: deliveryStatus,
    attempts: z.int(),
    lastResponseCode: z.int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: isoTime.nullable().describe("pending only"),
    lastAttemptAt: isoTime.nullable(),
    deliveredAt: isoTime.nullable(),
    createdAt: isoTime,
    history: z.array(
      z.object({
        attempt: z.int(),
        at: isoTime,
        responseCode: z.int().nullable(),
        error: z.string().nullable(),
        durationMs: z.int(),
      }),
    ),
  }),
);

function toEndpointView(row: WebhookEndpoint): z.input<typeof endpointView> {
  return {
    id: row.id.toString(),
    url: row.url,
    events: row.events as z.input<typeof eventType>[],
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    failingSince: row.failing_since?.toISOString() ?? null,
    previousSecretExpiresAt:
      row.previous_secret_expires_at && row.previous_secret_expires_at > new Date()
        ? row.previous_secret_expires_at.toISOString()
        : null,
    createdAt: row.created_at.toISOString(),
  };
}

const endpointParams = z.object({ id: rowId });

/**
 * Outbound webhook endpoints and their deliveries (role `admin`, docs/webhooks.md). Mounted before
 * the general admin router: creation and rotation answer with a secret, which must not be kept in the
 * idempotency store, so those two take no `Idempotency-Key`.
 */
export function webhookEndpointRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  const admin = { tag: "admin", auth: "admin" } as const;
  const auth = [requireRole(services, "admin")];
  const guard = [...auth, idempotency(services)];
  const allowPrivate = services.config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? services.config.demo;

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/webhook-endpoints",
      summary: "Add a webhook endpoint (its secret is in this answer only)",
      body: z.object({
        url: z.string().min(1).max(2048),
        events: z.array(eventType).max(WEBHOOK_EVENT_TYPES.length).optional(),
        description: z.string().max(500).optional(),
      }),
      responses: [{ status: 201, description: "created", schema: endpointWithSecret }],
      errors: ["unprocessable"],
      middleware: auth,
    },
    async (req, res, { body }) => {
      const problem = await targetProblem(body.url, allowPrivate);
      if (problem) throw new AppError("unprocessable", `url ${problem}`, { details: { field: "url" } });
      const row = await inTransaction(
        db,
        (trx) =>
          createWebhookEndpoint(trx, actorOf(req), {
            url: body.url,
            events: [...new Set(body.events ?? [])],
            description: body.description ?? null,
          }),
        { name: "create webhook endpoint" },
      );
      res.status(201).json({ ...toEndpointView(row), secret: row.secret });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/webhook-endpoints",
      summary: "Webhook endpoints (disabled ones say why)",
      responses: [
        { status: 200, description: "oldest first", schema: z.object({ items: z.array(endpointView) }) },
      ],
      middleware: auth,
    },
    async (_req, res) => {
      res.json({ items: (await listWebhookEndpoints(db)).map(toEndpointView) });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "delete",
      path: "/v1/admin/webhook-endpoints/:id",
      summary: "Remove a webhook endpoint and its deliveries",
      params: endpointParams,
      responses: [{ status: 204, description: "removed" }],
      errors: ["not_found"],
      middleware: auth,
    },
    async (req, res, { params }) => {
      const removed = await inTransaction(
        db,
        (trx) => deleteWebhookEndpoint(trx, actorOf(req), BigInt(params.id)),
        {
          name: "delete webhook endpoint",
        },
      );
      if (!removed) throw new AppError("not_found", `webhook endpoint ${params.id} does not exist`);
      res.status(204).end();
    },
  );

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/webhook-endpoints/:id/rotate-secret",
      summary: "New secret; the old one keeps signing for 24 h (two v1 signatures)",
      params: endpointParams,
      responses: [{ status: 200, description: "the new secret", schema: endpointWithSecret }],
      errors: ["not_found"],
      middleware: auth,
    },
    async (req, res, { params }) => {
      const row = await inTransaction(
        db,
        (trx) => rotateWebhookSecret(trx, actorOf(req), BigInt(params.id)),
        {
          name: "rotate webhook secret",
        },
      );
      if (!row) throw new AppError("not_found", `webhook endpoint ${params.id} does not exist`);
      res.json({ ...toEndpointView(row), secret: row.secret });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/webhook-endpoints/:id/enable",
      summary: "Turn a disabled webhook endpoint back on",
      params: endpointParams,
      responses: [{ status: 200, description: "enabled", schema: endpointView }],
      errors: ["not_found", "idempotency_conflict"],
      middleware: guard,
    },
    async (req, res, { params }) => {
      const row = await inTransaction(
        db,
        (trx) => enableWebhookEndpoint(trx, actorOf(req), BigInt(params.id)),
        {
          name: "enable webhook endpoint",
        },
      );
      if (!row) throw new AppError("not_found", `webhook endpoint ${params.id} does not exist`);
      res.json(toEndpointView(row));
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/webhook-endpoints/:id/deliveries",
      summary: "An endpoint's deliveries: status, attempts, last response code, next try",
      params: endpointParams,
      query: z.object({
        status: deliveryStatus.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      responses: [
        { status: 200, description: "newest first", schema: z.object({ items: z.array(deliveryView) }) },
      ],
      middleware: auth,
    },
    async (_req, res, { params, query }) => {
      const rows = await listWebhookDeliveries(db, { endpointId: BigInt(params.id), ...query });
      res.json({
        items: rows.map((row) => ({
          id: row.id.toString(),
          webhookId: `msg_${row.message_id}`,
          eventType: row.event_type,
          status: row.status,
          attempts: row.attempts,
          lastResponseCode: row.last_status_code,
          lastError: row.last_error,
          nextAttemptAt: row.status === "pending" ? row.next_attempt_at.toISOString() : null,
          lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
          deliveredAt: row.delivered_at?.toISOString() ?? null,
          createdAt: row.created_at.toISOString(),
          history: row.history.map((attempt) => ({
            attempt: attempt.attempt,
            at: attempt.at.toISOString(),
            responseCode: attempt.status_code,
            error: attempt.error,
            durationMs: attempt.duration_ms,
          })),
        })),
      });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/webhook-deliveries/:id/retry",
      summary: "Attempt a pending or failed delivery now",
      params: endpointParams,
      responses: [
        {
          status: 200,
          description: "scheduled",
          schema: z.object({ id: z.string(), endpointId: z.string(), status: z.literal("pending") }),
        },
      ],
      errors: ["not_found", "conflict", "invalid_transition", "idempotency_conflict"],
      middleware: guard,
    },
    async (req, res, { params }) => {
      res.json(
        await inTransaction(db, (trx) => retryDelivery(trx, actorOf(req), BigInt(params.id)), {
          name: "retry webhook delivery",
        }),
      );
    },
  );

  return router;
}
