import { sql } from "kysely";
import { type Hex, parseTransaction } from "viem";
import type { MintBatch } from "../../db/schema.js";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";
import { mintingRewards } from "./claim.js";
import { lease, type MinterContext } from "./context.js";
import { release } from "./release.js";
import { resolveFromChain } from "./resolve.js";
import { broadcast, drive } from "./send.js";
import { settle } from "./settle.js";
import type { MintRunResult, TxPlan } from "./types.js";

/** Every signed transaction of a batch, oldest first (the last one is the one to resend). */
function batchTxs(ctx: MinterContext, batchId: bigint) {
  return ctx.db
    .selectFrom("mint_batch_txs")
    .selectAll()
    .where("batch_id", "=", batchId)
    .orderBy("created_at")
    .orderBy("max_fee_per_gas")
    .execute();
}

/**
 * Resolves one batch whose run is gone: resumes its transaction, or asks the chain what was paid.
 * `behind`: the stale batches with later nonces (a pipeline's), resent before and renewed with it.
 */
async function resolveBatch(
  ctx: MinterContext,
  batch: MintBatch,
  waitSeconds: number,
  behind: bigint[],
): Promise<MintRunResult> {
  const { db } = ctx;
  const rewards = await mintingRewards(ctx, batch.id);
  const base = { batchId: batch.id.toString(), rewardIds: rewards.map((reward) => reward.id.toString()) };
  await db
    .updateTable("mint_batches")
    .set({ lease_expires_at: lease(ctx) })
    .where("id", "=", batch.id)
    .execute();
  const txs = await batchTxs(ctx, batch.id);
  const latest = txs.at(-1);
  if (!latest) {
    // Never signed or never persisted, so never broadcast by us: the chain says what others paid.
    const unpaid = await resolveFromChain(ctx, batch.id, rewards);
    await release(
      ctx,
      batch.id,
      unpaid.map((reward) => reward.id),
      "lease expired before a transaction was persisted",
      "released",
    );
    return {
      ...base,
      status: "released",
      txHash: null,
      minted: 0,
      skipped: rewards.length - unpaid.length,
      failed: 0,
    };
  }
  const parsed = parseTransaction(latest.raw_tx as Hex);
  const plan: TxPlan = {
    batchId: batch.id,
    nonce: Number(latest.nonce),
    gas: parsed.gas ?? 0n,
    data: (parsed.data ?? "0x") as Hex,
    maxFeePerGas: parsed.maxFeePerGas ?? BigInt(latest.max_fee_per_gas),
    maxPriorityFeePerGas: parsed.maxPriorityFeePerGas ?? BigInt(latest.max_priority_fee_per_gas),
    hashes: txs.map((tx) => tx.tx_hash as Hex),
    latestRaw: latest.raw_tx as Hex,
    signedAt: Date.now(),
    bumps: batch.fee_bumps,
    lastBroadcastAt: Date.now(),
  };
  ctx.logger.warn({ batchId: base.batchId, hashes: plan.hashes.length }, "recovering a batch from the chain");
  const outcome = await drive(ctx, plan, {
    rebroadcastNow: false,
    timeoutSeconds: waitSeconds,
    behind: () => behind,
  });
  return settle(ctx, batch.id, rewards, outcome, base);
}

const WALLET_STATUSES = ["awaiting_approval", "approval_signed"] as const;

/**
 * Resolves every batch of this operator whose lease expired (its run died). `waitSeconds` bounds the
 * wait for a resumed transaction (short at boot, so startup is not held up). A pipeline may have left
 * several, with consecutive nonces: each one's latest transaction is resent first, in nonce order (a
 * node that lost one would hold every later nonce back), then each is resolved in that order — mined
 * (marked from its receipt), nonce taken by another transaction (`paidOrders` decides), never persisted
 * (released). Once one is still pending at the end of its wait, the later ones cannot have been mined
 * either: they keep their expired lease for the next run.
 */
export async function recover(ctx: MinterContext, waitSeconds: number): Promise<{ resolved: number }> {
  const stale = await ctx.db
    .selectFrom("mint_batches")
    .selectAll()
    .where("status", "in", OPEN_BATCH_STATUSES)
    // Wallet mode: a batch waiting for (or holding) a wallet's signature was never broadcast; its pass
    // (wallet.ts) sends, expires or releases it, whatever its lease says.
    .where("status", "not in", WALLET_STATUSES)
    .where("operator", "=", ctx.operator)
    .where("lease_expires_at", "<", sql<Date>`now()`)
    .orderBy(sql`nonce ASC NULLS FIRST`)
    .orderBy("id")
    .execute();
  for (const batch of stale) {
    const latest = batch.nonce === null ? undefined : (await batchTxs(ctx, batch.id)).at(-1);
    if (latest) await broadcast(ctx, batch.id, latest.raw_tx as Hex);
  }
  let resolved = 0;
  for (const [index, batch] of stale.entries()) {
    const behind = stale.slice(index + 1).map((later) => later.id);
    const result = await resolveBatch(ctx, batch, waitSeconds, behind);
    if (result.status !== "waiting") resolved++;
    else if (batch.nonce !== null) break;
  }
  return { resolved };
}
