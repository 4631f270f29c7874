import { Router } from "express";
import { z } from "zod";
import type { RewardStatusColumn } from "../../db/schema.js";
import { REWARD_STATUSES } from "../../domain/reward-state.js";
import { listRewards, reviewRewards } from "../../ledger/review-rewards.js";
import type { Services } from "../../services.js";
import { actorOf, requireRole } from "../middleware/auth.js";
import { idempotency } from "../middleware/idempotency.js";
import { id, parse, rowId } from "../validate.js";

const rewardIds = z.array(rowId).min(1).max(500);
export const approveBody = z.object({ ids: rewardIds, note: z.string().max(500).optional() });
export const rejectBody = z.object({ ids: rewardIds, reason: z.string().trim().min(1).max(500) });
export const mintBody = z.object({ limit: z.number().int().min(1).max(200).optional() });

/** The admin surface (role `admin`). */
export function adminRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  router.use("/v1/admin", requireRole(services, "admin"), idempotency(services));

  router.get("/v1/admin/rewards", async (req, res) => {
    const query = parse(
      z.object({
        status: z.enum(REWARD_STATUSES as [RewardStatusColumn, ...RewardStatusColumn[]]).optional(),
        referrer: id.optional(),
        limit: z.coerce.number().int().min(1).max(200).default(50),
        cursor: rowId.optional(),
      }),
      req.query,
      "query",
    );
    res.json(await listRewards(db, { ...query, cursor: query.cursor ? BigInt(query.cursor) : undefined }));
  });

  router.post("/v1/admin/rewards/approve", async (req, res) => {
    const body = parse(approveBody, req.body);
    const result = await reviewRewards(db, actorOf(req), {
      ids: body.ids.map(BigInt),
      decision: "approved",
      note: body.note,
    });
    res.json({ approved: result.done, unchanged: result.unchanged, skipped: result.skipped });
  });

  router.post("/v1/admin/rewards/reject", async (req, res) => {
    const body = parse(rejectBody, req.body);
    const result = await reviewRewards(db, actorOf(req), {
      ids: body.ids.map(BigInt),
      decision: "rejected",
      note: body.reason,
    });
    res.json({ rejected: result.done, unchanged: result.unchanged, skipped: result.skipped });
  });

  router.post("/v1/admin/mint", async (req, res) => {
    const body = parse(mintBody, req.body ?? {});
    // An explicit "mint now" is a probe: it runs even while the minter backs off after a global revert.
    const result = await services.minter.runOnce({ limit: body.limit, manual: true });
    res.json(result);
  });

  router.get("/v1/admin/mint-batches", async (req, res) => {
    const query = parse(
      z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      req.query,
      "query",
    );
    const batches = await db
      .selectFrom("mint_batches")
      .selectAll()
      .orderBy("id", "desc")
      .limit(query.limit)
      .execute();
    const ids = batches.map((batch) => batch.id);
    const [claimed, txs] = ids.length
      ? await Promise.all([
          db
            .selectFrom("mint_batch_rewards as b")
            .innerJoin("referral_rewards as r", "r.id", "b.reward_id")
            .select(["b.batch_id", "b.reward_id", "r.status", "r.batch_id as current_batch_id"])
            .where("b.batch_id", "in", ids)
            .orderBy("b.reward_id")
            .execute(),
          db
            .selectFrom("mint_batch_txs")
            .select(["batch_id", "tx_hash", "max_fee_per_gas", "max_priority_fee_per_gas", "created_at"])
            .where("batch_id", "in", ids)
            .orderBy("created_at")
            .execute(),
        ])
      : [[], []];
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
  });

  router.get("/v1/admin/settlements", async (req, res) => {
    const query = parse(
      z.object({
        vendorId: id.optional(),
        status: z.enum(["pending", "due", "in_payout", "paid", "held", "cancelled"]).optional(),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
      req.query,
      "query",
    );
    let q = db.selectFrom("settlements").selectAll().orderBy("id", "desc").limit(query.limit);
    if (query.vendorId) q = q.where("vendor_id", "=", query.vendorId);
    if (query.status) q = q.where("status", "=", query.status);
    const rows = await q.execute();
    res.json({ items: rows.map(settlementView) });
  });

  router.get("/v1/admin/audit", async (req, res) => {
    const query = parse(
      z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
      req.query,
      "query",
    );
    const rows = await db
      .selectFrom("audit_log")
      .selectAll()
      .orderBy("id", "desc")
      .limit(query.limit)
      .execute();
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
  });

  return router;
}

export function settlementView(row: import("../../db/schema.js").Settlement) {
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
