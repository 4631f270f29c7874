import { Router } from "express";
import { z } from "zod";
import { inTransaction } from "../../db/transaction.js";
import { AppError } from "../../errors.js";
import { buildPayouts, markPayoutPaid } from "../../ledger/build-payouts.js";
import { releaseMismatchHold } from "../../ledger/mismatch-holds.js";
import { reconcile } from "../../ledger/reconcile.js";
import type { Services } from "../../services.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { id, parse, rowId } from "../validate.js";

/**
 * The admin ledger surface (role `admin`): payouts, amount-mismatch releases and reconciliation. Mounted before the general
 * admin router, so it brings its own auth and idempotency and answers its paths itself.
 */
export function ledgerAdminRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  const guard = [requireRole(services, "admin"), idempotency(services)];

  router.post("/v1/admin/payouts", ...guard, async (req, res) => {
    const body = parse(z.object({ vendorId: id.optional() }), req.body ?? {});
    res.json(await buildPayouts(db, actorOf(req), { vendorId: body.vendorId }));
  });

  router.get("/v1/admin/payouts", requireRole(services, "admin"), async (req, res) => {
    const query = parse(
      z.object({
        vendorId: id.optional(),
        status: z.enum(["created", "paid", "failed"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      req.query,
      "query",
    );
    let q = db.selectFrom("payouts").selectAll().orderBy("id", "desc").limit(query.limit);
    if (query.vendorId) q = q.where("vendor_id", "=", query.vendorId);
    if (query.status) q = q.where("status", "=", query.status);
    const rows = await q.execute();
    res.json({
      items: rows.map((row) => ({
        payoutId: row.id.toString(),
        vendorId: row.vendor_id,
        currency: row.currency,
        amount: row.amount.toString(),
        adjustmentTotal: row.adjustment_total.toString(),
        settlementCount: row.settlement_count,
        status: row.status,
        createdAt: row.created_at.toISOString(),
        paidAt: row.paid_at?.toISOString() ?? null,
      })),
    });
  });

  router.post("/v1/admin/payouts/:payoutId/paid", ...guard, async (req, res) => {
    const params = parse(z.object({ payoutId: rowId }), req.params, "path");
    const result = await markPayoutPaid(db, actorOf(req), BigInt(params.payoutId));
    if (!result) throw new AppError("not_found", `payout ${params.payoutId} does not exist`);
    res.json(result);
  });

  // An order paid with an amount different from its total has its settlements held; this resolves
  // the mismatch for rail A (approving the held reward does the same for an order that has one).
  router.post("/v1/admin/orders/:orderReference/release-hold", ...guard, async (req, res) => {
    const params = parse(z.object({ orderReference: id }), req.params, "path");
    const result = await inTransaction(
      db,
      (trx) => releaseMismatchHold(trx, actorOf(req), params.orderReference),
      { name: "release mismatch hold" },
    );
    res.json(result);
  });

  router.get("/v1/admin/reconcile", requireRole(services, "admin"), async (_req, res) => {
    res.json(await reconcile(db, services.chain));
  });

  return router;
}
