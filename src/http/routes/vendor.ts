import { pipeline } from "node:stream/promises";
import { type Request, Router } from "express";
import { z } from "zod";
import { AppError } from "../../errors.js";
import {
  listVendorSettlements,
  type StatementFilter,
  vendorSettlementsCsvStream,
  vendorSummary,
} from "../../ledger/vendor-statements.js";
import type { Services } from "../../services.js";
import { requireRole } from "../middleware/auth.js";
import { id, instant, parse, rowId } from "../validate.js";

const SETTLEMENT_STATUSES = ["pending", "due", "in_payout", "paid", "held", "cancelled"] as const;
const rangeQuery = z.object({
  from: instant.optional(),
  to: instant.optional(),
  vendorId: id.optional(),
});

/** The vendor's own key scopes every query; asking for another vendor's data is a 403. */
function vendorOf(req: Request, requested: string | undefined): string {
  const principal = req.principal;
  const own = principal?.kind === "api_key" ? principal.vendorId : null;
  if (!own) throw new AppError("forbidden", "this key is not bound to a vendor");
  if (requested !== undefined && requested !== own) {
    throw new AppError("forbidden", `this key belongs to vendor ${own}; it cannot read vendor ${requested}`);
  }
  return own;
}

/** The vendor surface (role `vendor`, scoped to the key's vendor). */
export function vendorRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  router.use("/v1/vendor", requireRole(services, "vendor"));

  router.get("/v1/vendor/settlements", async (req, res) => {
    const query = parse(
      rangeQuery.extend({
        status: z.enum(SETTLEMENT_STATUSES).optional(),
        format: z.enum(["json", "csv"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: rowId.optional(),
      }),
      req.query,
      "query",
    );
    const vendorId = vendorOf(req, query.vendorId);
    const filter: StatementFilter = { from: query.from, to: query.to, status: query.status };
    const wantsCsv =
      query.format === "csv" ||
      (query.format === undefined && req.accepts(["json", "text/csv"]) === "text/csv");
    if (!wantsCsv) {
      const items = await listVendorSettlements(db, vendorId, filter, {
        afterId: query.cursor ? BigInt(query.cursor) : undefined,
        limit: query.limit,
      });
      res.json({
        vendorId,
        items,
        nextCursor: items.length === query.limit ? (items[items.length - 1]?.id ?? null) : null,
      });
      return;
    }
    // Streamed from a server-side cursor (PGlite: keyset pages), paced by the socket's back-pressure.
    res.status(200);
    res.setHeader("content-type", "text/csv; charset=utf-8");
    res.setHeader("content-disposition", `attachment; filename="settlements-${vendorId}.csv"`);
    const mode = services.dbKind === "postgres" ? "cursor" : "pages";
    await pipeline(vendorSettlementsCsvStream(db, vendorId, filter, { mode }), res).catch((error) => {
      if ((error as { code?: string }).code !== "ERR_STREAM_PREMATURE_CLOSE") throw error; // client left
    });
  });

  router.get("/v1/vendor/summary", async (req, res) => {
    const query = parse(rangeQuery, req.query, "query");
    const vendorId = vendorOf(req, query.vendorId);
    res.json(await vendorSummary(db, vendorId, { from: query.from, to: query.to }));
  });

  return router;
}
