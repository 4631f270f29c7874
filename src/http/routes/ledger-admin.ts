import { Router } from "express";
import { z } from "zod";
import { inTransaction } from "../../db/transaction.js";
import { PAYOUT_STATUSES } from "../../domain/enums.js";
import { AppError } from "../../errors.js";
import { buildPayouts, markPayoutPaid } from "../../ledger/build-payouts.js";
import { releaseMismatchHold } from "../../ledger/mismatch-holds.js";
import { listPayouts } from "../../ledger/queries/payouts.js";
import { runReconcile } from "../../ledger/reconcile/runs.js";
import type { Services } from "../../services.js";
import type { Payout } from "../../webhooks/tables.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { readDb } from "../read-source.js";
import { named, route } from "../route.js";
import { decimalString, isoTime } from "../schemas.js";
import { id, rowId } from "../validate.js";

const payoutRunView = z.object({
  payouts: z.array(
    z.object({
      payoutId: z.string(),
      vendorId: z.string(),
      currency: z.string(),
      amount: decimalString,
      settlementIds: z.array(z.string()),
      adjustmentIds: z.array(z.string()),
      adjustmentTotal: decimalString,
    }),
  ),
  skipped: z.array(
    z.object({ vendorId: z.string(), currency: z.string(), reason: z.string(), amount: decimalString }),
  ),
});

const payoutSchema = named(
  "Payout",
  z.object({
    payoutId: z.string(),
    vendorId: z.string(),
    currency: z.string(),
    amount: decimalString,
    adjustmentTotal: decimalString,
    settlementCount: z.int(),
    status: z.enum(PAYOUT_STATUSES),
    createdAt: isoTime,
    paidAt: isoTime.nullable(),
  }),
);

const reconcileView = named(
  "ReconcileReport",
  z.object({
    ok: z.boolean(),
    mismatches: z.array(z.object({ check: z.string(), subject: z.string(), detail: z.string() })),
    checked: z.record(z.string(), z.number().nullable()),
    at: isoTime,
    runId: z.string().optional(),
    mode: z.enum(["full", "incremental"]).optional(),
    windowFrom: isoTime.nullable().optional(),
    cutoff: isoTime.optional(),
    toBlock: z.string().nullable().optional(),
  }),
  "A reconcile run as stored in reconcile_runs: incremental (what changed since the previous run) or full",
);

/**
 * The admin ledger surface (role `admin`): payouts, amount-mismatch releases and reconciliation. Mounted before the general
 * admin router, so it brings its own auth and idempotency and answers its paths itself.
 */
export function ledgerAdminRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  const guard = [requireRole(services, "admin"), idempotency(services)];

  const admin = { tag: "admin", auth: "admin" } as const;

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/payouts",
      summary: "Turn due settlements into payouts (one per vendor and currency)",
      body: z.object({ vendorId: id.optional() }),
      bodyMode: "optional",
      responses: [{ status: 200, description: "payouts built, vendors skipped", schema: payoutRunView }],
      errors: ["idempotency_conflict"],
      middleware: guard,
    },
    async (req, res, { body }) => {
      res.json(await buildPayouts(db, actorOf(req), { vendorId: body.vendorId }));
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/payouts",
      summary: "Payouts, newest first",
      query: z.object({
        vendorId: id.optional(),
        status: z.enum(PAYOUT_STATUSES).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      responses: [
        { status: 200, description: "newest first", schema: z.object({ items: z.array(payoutSchema) }) },
      ],
      middleware: [requireRole(services, "admin")],
    },
    async (_req, res, { query }) => {
      const rows = await listPayouts(await readDb(services, res), query);
      res.json({
        items: rows.map(payoutView),
      });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/payouts/:payoutId/paid",
      summary: "Mark a payout and its settlements paid",
      params: z.object({ payoutId: rowId }),
      responses: [
        {
          status: 200,
          description: "settlements moved to paid (0 on a repeat)",
          schema: z.object({ payoutId: z.string(), settlements: z.int() }),
        },
      ],
      errors: ["idempotency_conflict", "not_found"],
      middleware: guard,
    },
    async (req, res, { params }) => {
      const result = await markPayoutPaid(db, actorOf(req), BigInt(params.payoutId));
      if (!result) throw new AppError("not_found", `payout ${params.payoutId} does not exist`);
      res.json(result);
    },
  );

  // An order paid with an amount different from its total has its settlements held; this resolves
  // the mismatch for rail A (approving the held reward does the same for an order that has one).
  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/orders/:orderReference/release-hold",
      summary: "Release the settlements held for an amount mismatch (rail A)",
      params: z.object({ orderReference: id }),
      responses: [
        {
          status: 200,
          description: "settlements released (none on a repeat)",
          schema: z.object({ orderReference: z.string(), released: z.array(z.string()) }),
        },
      ],
      errors: ["idempotency_conflict", "not_found", "invalid_transition"],
      middleware: guard,
    },
    async (req, res, { params }) => {
      const result = await inTransaction(
        db,
        (trx) => releaseMismatchHold(trx, actorOf(req), params.orderReference),
        { name: "release mismatch hold" },
      );
      res.json(result);
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/reconcile",
      summary: "Journal balance, rails agreement, DB ↔ chain",
      query: z.object({ full: z.enum(["true", "false"]).optional() }),
      responses: [
        {
          status: 200,
          description: "the stored run: what changed since the last run, or everything with full=true",
          schema: reconcileView,
        },
      ],
      errors: ["chain_unavailable"],
      middleware: [requireRole(services, "admin")],
    },
    async (_req, res, { query }) => {
      res.json(await runReconcile(db, services.chain, { full: query.full === "true" }));
    },
  );

  return router;
}

/** A payout as the API (and its `payout.*` webhooks) show it. */
export function payoutView(row: Payout): z.input<typeof payoutSchema> {
  return {
    payoutId: row.id.toString(),
    vendorId: row.vendor_id,
    currency: row.currency,
    amount: row.amount.toString(),
    adjustmentTotal: row.adjustment_total.toString(),
    settlementCount: row.settlement_count,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    paidAt: row.paid_at?.toISOString() ?? null,
  };
}
