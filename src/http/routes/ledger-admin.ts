import { Router } from "express";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { buildPayouts, markPayoutPaid } from "../../ledger/build-payouts.js";
import { reconcile } from "../../ledger/reconcile.js";
import type { Services } from "../../services.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { id, parse, rowId } from "../validate.js";

/**
 * The admin ledger surface (role `admin`): payouts and reconciliation. Mounted before the general
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

  router.post("/v1/admin/payouts/:payoutId/paid", ...guard, async (req, res) => {
    const params = parse(z.object({ payoutId: rowId }), req.params, "path");
    const result = await markPayoutPaid(db, actorOf(req), BigInt(params.payoutId));
    if (!result) throw new AppError("not_found", `payout ${params.payoutId} does not exist`);
    res.json(result);
  });

  router.get("/v1/admin/reconcile", requireRole(services, "admin"), async (_req, res) => {
    res.json(await reconcile(db, services.chain));
  });

  return router;
}
