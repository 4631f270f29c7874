import { sql } from "kysely";
import { parseEventLogs, type TransactionReceipt } from "viem";
import { referralRewardsAbi } from "../../chain/abi.generated.js";
import { at, clearBackoff, enterBackoff, fail, type MinterContext } from "./context.js";
import { markMintedFromReceipt } from "./mark.js";
import { release } from "./release.js";
import { resolveFromChain } from "./resolve.js";
import { simulateAndIsolate } from "./simulate.js";
import { moveBatch } from "./transitions.js";
import type { BatchBase, ClaimedReward, MintRunResult, Outcome } from "./types.js";

const NONE = { minted: 0, skipped: 0, failed: 0 };

/** Turns the outcome of the confirmation loop into row updates. */
export async function settle(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  outcome: Outcome,
  base: BatchBase,
): Promise<MintRunResult> {
  if (outcome.kind === "timeout") return settleTimeout(ctx, batchId, base);
  if (outcome.kind === "stopped") return settleStopped(ctx, batchId, base);
  if (outcome.kind === "nonce-spent") {
    // Another transaction took the nonce: ours can never be mined. What the chain paid is marked.
    const unpaid = await resolveFromChain(ctx, batchId, rewards);
    await release(
      ctx,
      batchId,
      unpaid.map((reward) => reward.id),
      "nonce used by another transaction",
      "released",
    );
    return { ...base, status: "released", txHash: null, ...NONE, skipped: rewards.length - unpaid.length };
  }
  const { receipt } = outcome;
  at(ctx, "after-receipt", batchId);
  if (receipt.status !== "success") return settleReverted(ctx, batchId, rewards, receipt, base);
  const applied = await applyReceipt(ctx, batchId, rewards, receipt);
  ctx.stats.lastError = null;
  ctx.logger.info(
    {
      batchId: base.batchId,
      txHash: receipt.transactionHash,
      minted: applied.minted,
      gasUsed: receipt.gasUsed.toString(),
    },
    "mint batch confirmed",
  );
  return {
    ...base,
    status: "confirmed",
    txHash: receipt.transactionHash,
    minted: applied.minted,
    skipped: applied.skipped,
    failed: 0,
  };
}

/** Shutdown during the receipt wait: signed and persisted, lease expired, for the next boot's recovery. */
async function settleStopped(ctx: MinterContext, batchId: bigint, base: BatchBase): Promise<MintRunResult> {
  await ctx.db
    .updateTable("mint_batches")
    .set({ lease_expires_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where("id", "=", batchId)
    .execute();
  const error = "shutting down while waiting for the receipt; the next run resumes it";
  ctx.logger.info({ batchId: base.batchId }, error);
  return { ...base, status: "waiting", txHash: null, ...NONE, error };
}

/** Left signed with its lease expired: the next run's recovery picks it up where this one stopped. */
async function settleTimeout(ctx: MinterContext, batchId: bigint, base: BatchBase): Promise<MintRunResult> {
  await ctx.db
    .updateTable("mint_batches")
    .set({ lease_expires_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where("id", "=", batchId)
    .execute();
  const error = `not confirmed within ${ctx.cfg.confirmTimeoutSeconds}s; the next run resumes it`;
  fail(ctx, "timeout", error);
  ctx.logger.error({ alert: "mint_tx_unconfirmed", batchId: base.batchId }, error);
  return { ...base, status: "waiting", txHash: null, ...NONE, error };
}

/** Reverted on-chain (state changed after the simulation): classify by simulating again. */
async function settleReverted(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  receipt: TransactionReceipt,
  base: BatchBase,
): Promise<MintRunResult> {
  await ctx.db
    .updateTable("mint_batches")
    .set({ block_number: receipt.blockNumber, gas_used: receipt.gasUsed.toString() })
    .where("id", "=", batchId)
    .execute();
  ctx.stats.gasUsed += receipt.gasUsed;
  const again = await simulateAndIsolate(ctx, batchId, rewards).catch(() => undefined);
  if (again?.globalError) enterBackoff(ctx, again.globalError);
  else fail(ctx, "reverted", "transaction reverted");
  const left = await ctx.db
    .selectFrom("referral_rewards")
    .select("id")
    .where("batch_id", "=", batchId)
    .where("status", "=", "minting")
    .execute();
  await release(
    ctx,
    batchId,
    left.map((row) => row.id),
    again?.globalError ?? "transaction reverted",
    "failed",
  );
  return {
    ...base,
    status: "failed",
    txHash: receipt.transactionHash,
    ...NONE,
    failed: again?.failed ?? 0,
    error: again?.globalError ?? "transaction reverted",
  };
}

/** Which rewards of the batch a receipt paid (`ReferralPaid`), skipped, or does not mention. */
function readReceipt(ctx: MinterContext, rewards: ClaimedReward[], receipt: TransactionReceipt) {
  const byHash = new Map(rewards.map((reward) => [reward.order_ref_hash.toLowerCase(), reward]));
  const events = parseEventLogs({
    abi: referralRewardsAbi,
    logs: receipt.logs,
    eventName: ["ReferralPaid", "ReferralSkipped"],
  });
  const skipped: ClaimedReward[] = [];
  const paid: { id: bigint; logIndex: number }[] = [];
  for (const event of events) {
    if (event.address.toLowerCase() !== ctx.contract.toLowerCase()) continue;
    const reward = byHash.get(event.args.orderRef.toLowerCase());
    if (!reward) continue;
    byHash.delete(event.args.orderRef.toLowerCase());
    if (event.eventName === "ReferralPaid") paid.push({ id: reward.id, logIndex: event.logIndex });
    else skipped.push(reward);
  }
  return { paid, skipped, unmentioned: [...byHash.values()] };
}

/** Applies a successful receipt: ReferralPaid logs mark rows minted; the rest are resolved from the chain. */
async function applyReceipt(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  receipt: TransactionReceipt,
) {
  const { paid, skipped, unmentioned } = readReceipt(ctx, rewards, receipt);
  const minted = await markMintedFromReceipt(ctx, batchId, receipt, paid);
  // Skipped (paid earlier) or absent from the logs: resolve each from the chain; unpaid go back.
  const unresolved = await resolveFromChain(ctx, batchId, [...skipped, ...unmentioned]);
  const mined = await ctx.db
    .selectFrom("mint_batch_txs")
    .select("raw_tx")
    .where("tx_hash", "=", receipt.transactionHash.toLowerCase())
    .executeTakeFirst();
  await moveBatch(ctx.db, batchId, "confirmed")
    .set({
      tx_hash: receipt.transactionHash.toLowerCase(),
      ...(mined ? { raw_tx: mined.raw_tx } : {}),
      block_number: receipt.blockNumber,
      gas_used: receipt.gasUsed.toString(),
      updated_at: sql<Date>`now()`,
    })
    .execute();
  if (unresolved.length) {
    await release(
      ctx,
      batchId,
      unresolved.map((reward) => reward.id),
      "not paid by the confirmed batch",
      null,
    );
  }
  ctx.stats.gasUsed += receipt.gasUsed;
  ctx.stats.lastSuccessAt = new Date();
  clearBackoff(ctx);
  return { minted, skipped: skipped.length };
}
