import { pipeline } from "node:stream/promises";
import { type Request, Router } from "express";
import { z } from "zod";
import { AppError } from "../../errors.js";
import { vendorSummaryRollup } from "../../ledger/queries/vendor-summary-rollup.js";
import {
  listVendorSettlements,
  type StatementFilter,
  vendorSettlementsCsvStream,
} from "../../ledger/vendor-statements.js";
import type { Services } from "../../services.js";
import { requireRole } from "../middleware/auth.js";
import { readDb } from "../read-source.js";
import { named, route } from "../route.js";
import { decimalString, isoTime, settlementLineView, settlementStatus } from "../schemas.js";
import { id, instant, rowId } from "../validate.js";

const rangeQuery = z.object({
  from: instant.optional(),
  to: instant.optional(),
  vendorId: id.optional(),
});

const amounts = {
  gross: decimalString,
  platformFee: decimalString,
  referralCommission: decimalString,
  net: decimalString,
};

const vendorSettlementView = named(
  "VendorSettlement",
  z.object({
    id: z.string(),
    orderReference: z.string(),
    currency: z.string(),
    status: settlementStatus,
    scheduledFor: isoTime,
    createdAt: isoTime,
    payoutId: z.string().nullable(),
    ...amounts,
    platformFeeBps: z.int(),
    lines: z.array(settlementLineView),
    adjustments: z.object({ count: z.int(), ...amounts, nextPayout: decimalString }),
    effective: z.object(amounts),
  }),
  "A settlement with its refund adjustments and effective amounts",
);

const bucket = { currency: z.string(), count: z.int(), ...amounts };
const vendorSummaryView = named(
  "VendorSummary",
  z.object({
    vendorId: z.string(),
    from: isoTime.nullable(),
    to: isoTime.nullable(),
    byStatus: z.array(z.object({ status: z.string(), ...bucket })),
    byPeriod: z.array(z.object({ period: z.string(), ...bucket })),
    pendingNetting: z.array(z.object({ currency: z.string(), count: z.int(), net: decimalString })),
  }),
);

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
  router.use("/v1/vendor", requireRole(services, "vendor"));
  const vendor = { tag: "vendor", auth: "vendor" } as const;

  route(
    router,
    {
      ...vendor,
      method: "get",
      path: "/v1/vendor/settlements",
      summary: "The vendor's settlements (JSON, or CSV with Accept: text/csv or ?format=csv)",
      query: rangeQuery.extend({
        status: settlementStatus.optional(),
        format: z.enum(["json", "csv"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
        cursor: rowId.optional(),
      }),
      responses: [
        {
          status: 200,
          description: "oldest first, keyset-paginated; CSV streams every row",
          schema: z.object({
            vendorId: z.string(),
            items: z.array(vendorSettlementView),
            nextCursor: z.string().nullable(),
          }),
        },
      ],
    },
    async (req, res, { query }) => {
      const vendorId = vendorOf(req, query.vendorId);
      const filter: StatementFilter = { from: query.from, to: query.to, status: query.status };
      const wantsCsv =
        query.format === "csv" ||
        (query.format === undefined && req.accepts(["json", "text/csv"]) === "text/csv");
      if (!wantsCsv) {
        const items = await listVendorSettlements(await readDb(services, res), vendorId, filter, {
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
      const reader = await readDb(services, res);
      await pipeline(vendorSettlementsCsvStream(reader, vendorId, filter, { mode }), res).catch((error) => {
        if ((error as { code?: string }).code !== "ERR_STREAM_PREMATURE_CLOSE") throw error; // client left
      });
    },
  );

  route(
    router,
    {
      ...vendor,
      method: "get",
      path: "/v1/vendor/summary",
      summary: "Totals per status and period",
      query: rangeQuery,
      responses: [{ status: 200, description: "effective totals", schema: vendorSummaryView }],
    },
    async (req, res, { query }) => {
      const vendorId = vendorOf(req, query.vendorId);
      res.json(
        await vendorSummaryRollup(await readDb(services, res), vendorId, { from: query.from, to: query.to }),
      );
    },
  );

  return router;
}
