import { Router } from "express";
import { z } from "zod";
import type { Settlement } from "../../db/schema.js";
import { REWARD_STATUSES } from "../../domain/enums.js";
import type { ReviewDecision } from "../../domain/reward-state.js";
import { listAuditLog } from "../../ledger/queries/audit-log.js";
import { listMintBatches } from "../../ledger/queries/mint-batches.js";
import { listSettlements } from "../../ledger/queries/settlements.js";
import { listRewards, reviewRewards } from "../../ledger/review-rewards.js";
import type { Services } from "../../services.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { readDb } from "../read-source.js";
import { named, route } from "../route.js";
import {
  decimalString,
  isoTime,
  mintBatchStatus,
  mintRunResult,
  page,
  rewardView,
  settlementLineView,
  settlementStatus,
} from "../schemas.js";
import { id, rowId } from "../validate.js";
import { registerMintApprovalRoutes } from "./mint-approvals.js";
import { registerProgramAdminRoutes } from "./programs.js";

const rewardIds = z.array(rowId).min(1).max(500);
export const approveBody = z.object({ ids: rewardIds, note: z.string().max(500).optional() });
export const rejectBody = z.object({ ids: rewardIds, reason: z.string().trim().min(1).max(500) });
export const mintBody = z.object({ limit: z.number().int().min(1).max(200).optional() });

const skippedView = z.array(z.object({ id: z.string(), reason: z.string() }));

export const settlementSchema = named(
  "Settlement",
  z.object({
    id: z.string(),
    orderReference: z.string(),
    vendorId: z.string(),
    currency: z.string(),
    merchandise: decimalString,
    discount: decimalString,
    shipping: decimalString,
    gross: decimalString,
    platformFee: decimalString,
    platformFeeBps: z.int(),
    referralCommission: decimalString,
    net: decimalString,
    lines: z.array(settlementLineView),
    status: settlementStatus,
    scheduledFor: isoTime,
    payoutId: z.string().nullable(),
    createdAt: isoTime,
  }),
  "A vendor settlement as paid (rail A), for the admin console",
);

const mintBatchView = named(
  "MintBatch",
  z.object({
    id: z.string(),
    status: mintBatchStatus,
    rewardCount: z.int(),
    totalWei: decimalString,
    txHash: z.string().nullable(),
    blockNumber: z.string().nullable(),
    gasUsed: decimalString.nullable(),
    nonce: z.string().nullable(),
    error: z.string().nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
    leaseExpiresAt: isoTime,
    claimedBy: z.string().nullable(),
    feeBumps: z.int(),
    rewardIds: z.array(z.string()),
    rewards: z.array(
      z.object({ id: z.string(), status: z.enum(REWARD_STATUSES), currentBatchId: z.string().nullable() }),
    ),
    transactions: z.array(
      z.object({
        txHash: z.string(),
        maxFeePerGas: decimalString,
        maxPriorityFeePerGas: decimalString,
        signedAt: isoTime,
      }),
    ),
  }),
);

const auditEntryView = named(
  "AuditEntry",
  z.object({
    id: z.string(),
    at: isoTime,
    actor: z.string(),
    action: z.string(),
    subject: z.object({ type: z.string(), id: z.string() }),
    before: z.unknown(),
    after: z.unknown(),
    requestId: z.string().nullable(),
  }),
);

/** The admin surface (role `admin`). */
export function adminRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  router.use("/v1/admin", requireRole(services, "admin"), idempotency(services));
  const admin = { tag: "admin", auth: "admin" } as const;

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/rewards",
      summary: "Approval queue and history with fraud signals",
      query: z.object({
        status: z.enum(REWARD_STATUSES).optional(),
        referrer: id.optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
        cursor: rowId.optional(),
      }),
      responses: [{ status: 200, description: "newest first", schema: page(rewardView) }],
    },
    async (_req, res, { query }) => {
      res.json(
        await listRewards(await readDb(services, res), {
          ...query,
          cursor: query.cursor ? BigInt(query.cursor) : undefined,
        }),
      );
    },
  );

  /** Approve and reject: one conditional move each; the ids now in the target status, unchanged, skipped. */
  const reviewRoute = <B extends z.ZodType<{ ids: string[] }>>(
    decision: ReviewDecision,
    summary: string,
    body: B,
    noteOf: (body: z.output<B>) => string | undefined,
  ) =>
    route(
      router,
      {
        ...admin,
        method: "post",
        path: `/v1/admin/rewards/${decision === "approved" ? "approve" : "reject"}`,
        summary,
        body,
        responses: [
          {
            status: 200,
            description: `ids ${decision} (now or before), unchanged ones, and those skipped with the reason`,
            schema: z.object({
              [decision]: z.array(z.string()),
              unchanged: z.array(z.string()),
              skipped: skippedView,
            }),
          },
        ],
        errors: ["idempotency_conflict"],
      },
      async (req, res, { body }) => {
        const result = await reviewRewards(db, actorOf(req), {
          ids: body.ids.map(BigInt),
          decision,
          note: noteOf(body as z.output<B>),
        });
        res.json({ [decision]: result.done, unchanged: result.unchanged, skipped: result.skipped });
      },
    );
  reviewRoute("approved", "Approve rewards", approveBody, (body) => body.note);
  reviewRoute("rejected", "Reject rewards with a reason", rejectBody, (body) => body.reason);

  route(
    router,
    {
      ...admin,
      method: "post",
      path: "/v1/admin/mint",
      summary: "Mint one batch now",
      body: mintBody,
      bodyMode: "optional",
      responses: [{ status: 200, description: "what the run did", schema: mintRunResult }],
      errors: ["idempotency_conflict", "chain_unavailable"],
    },
    async (_req, res, { body }) => {
      // An explicit "mint now" is a probe: it runs even while the minter backs off after a global revert.
      const result = await services.minter.runOnce({ limit: body.limit, manual: true });
      res.json(result);
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/mint-batches",
      summary: "Mint batches with status, tx hashes, gas",
      query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      responses: [
        { status: 200, description: "newest first", schema: z.object({ items: z.array(mintBatchView) }) },
      ],
    },
    async (_req, res, { query }) => {
      const { batches, claimed, txs } = await listMintBatches(db, query.limit);
      res.json({
        items: batches.map((batch) => {
          const rewards = claimed.filter((row) => row.batch_id === batch.id);
          return {
            id: batch.id.toString(),
            status: batch.status,
            rewardCount: batch.reward_count,
            totalWei: batch.total_wei,
            txHash: batch.tx_hash,
            blockNumber: batch.block_number?.toString() ?? null,
            gasUsed: batch.gas_used,
            nonce: batch.nonce?.toString() ?? null,
            error: batch.error,
            createdAt: batch.created_at.toISOString(),
            updatedAt: batch.updated_at.toISOString(),
            leaseExpiresAt: batch.lease_expires_at.toISOString(),
            claimedBy: batch.claimed_by,
            feeBumps: batch.fee_bumps,
            // Every reward the batch claimed, with its status now (a released one may sit in a later batch).
            rewardIds: rewards.map((row) => row.reward_id.toString()),
            rewards: rewards.map((row) => ({
              id: row.reward_id.toString(),
              status: row.status,
              currentBatchId: row.current_batch_id?.toString() ?? null,
            })),
            // Every signed transaction (replacements share the nonce); txHash above is the mined or latest one.
            transactions: txs
              .filter((tx) => tx.batch_id === batch.id)
              .map((tx) => ({
                txHash: tx.tx_hash,
                maxFeePerGas: tx.max_fee_per_gas,
                maxPriorityFeePerGas: tx.max_priority_fee_per_gas,
                signedAt: tx.created_at.toISOString(),
              })),
          };
        }),
      });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/settlements",
      summary: "All vendors' settlements",
      query: z.object({
        vendorId: id.optional(),
        status: settlementStatus.optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      responses: [
        { status: 200, description: "newest first", schema: z.object({ items: z.array(settlementSchema) }) },
      ],
    },
    async (_req, res, { query }) => {
      const rows = await listSettlements(await readDb(services, res), query);
      res.json({ items: rows.map(settlementView) });
    },
  );

  route(
    router,
    {
      ...admin,
      method: "get",
      path: "/v1/admin/audit",
      summary: "Audit log",
      query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
      responses: [
        { status: 200, description: "newest first", schema: z.object({ items: z.array(auditEntryView) }) },
      ],
    },
    async (_req, res, { query }) => {
      const rows = await listAuditLog(db, query.limit);
      res.json({
        items: rows.map((row) => ({
          id: row.id.toString(),
          at: row.at.toISOString(),
          actor: row.actor,
          action: row.action,
          subject: { type: row.subject_type, id: row.subject_id },
          before: row.before,
          after: row.after,
          requestId: row.request_id,
        })),
      });
    },
  );

  registerProgramAdminRoutes(router, services);
  registerMintApprovalRoutes(router, services);

  return router;
}

export function settlementView(row: Settlement): z.input<typeof settlementSchema> {
  return {
    id: row.id.toString(),
    orderReference: row.order_reference,
    vendorId: row.vendor_id,
    currency: row.currency,
    merchandise: row.merchandise.toString(),
    discount: row.discount.toString(),
    shipping: row.shipping.toString(),
    gross: row.gross.toString(),
    platformFee: row.platform_fee.toString(),
    platformFeeBps: row.platform_fee_bps,
    referralCommission: row.referral_commission.toString(),
    net: row.net.toString(),
    lines: row.breakdown.lines,
    status: row.status,
    scheduledFor: row.scheduled_for.toISOString(),
    payoutId: row.payout_id?.toString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}
