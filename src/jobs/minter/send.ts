import { sql } from "kysely";
import { type Hex, keccak256, type TransactionReceipt } from "viem";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";
import { describe, isBenignBroadcastError, isNotFound, sleep } from "../minter-rpc.js";
import { at, fail, lease, type MinterContext, rpc } from "./context.js";
import { encodeBatch } from "./simulate.js";
import { moveBatch } from "./transitions.js";
import type { ClaimedReward, Outcome, TxPlan } from "./types.js";

/**
 * The first transaction of a batch: the pending nonce and today's fees (capped), gas as fitted. In a
 * pipeline `nonceAtLeast` is the nonce after the previous batch's: the node's pending count lags when
 * that batch's broadcast was lost, and two batches must never share a nonce.
 */
export async function planFirstTx(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  gas: bigint,
  options: { signed?: Hex; nonceAtLeast?: number } = {},
): Promise<TxPlan> {
  const { chain, cfg } = ctx;
  // `signed`: wallet mode's call data, with the wallet's signature over exactly this batch.
  const data = options.signed ?? (await encodeBatch(ctx, batchId, rewards));
  const [pending, fees] = await Promise.all([
    rpc(ctx, "getTransactionCount", () =>
      chain.publicClient.getTransactionCount({ address: chain.operator, blockTag: "pending" }),
    ),
    rpc(ctx, "estimateFeesPerGas", () => chain.publicClient.estimateFeesPerGas()),
  ]);
  const nonce = Math.max(pending, options.nonceAtLeast ?? 0);
  const maxFeePerGas = fees.maxFeePerGas > cfg.maxFeePerGasWei ? cfg.maxFeePerGasWei : fees.maxFeePerGas;
  const maxPriorityFeePerGas =
    fees.maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : fees.maxPriorityFeePerGas;
  return {
    batchId,
    nonce,
    // Estimate plus headroom: the state may move between the estimate and inclusion.
    gas,
    data,
    maxFeePerGas,
    maxPriorityFeePerGas,
    hashes: [],
    latestRaw: "0x",
    signedAt: 0,
    bumps: 0,
  };
}

/** Signs a transaction of the plan and persists it (batch row + mint_batch_txs) BEFORE any broadcast. */
export async function signAndPersist(
  ctx: MinterContext,
  plan: Omit<TxPlan, "hashes" | "latestRaw" | "signedAt">,
): Promise<Hex> {
  const account = ctx.chain.walletClient.account;
  const rawTx = await account.signTransaction({
    type: "eip1559",
    chainId: ctx.chain.chainId,
    to: ctx.contract,
    data: plan.data,
    nonce: plan.nonce,
    gas: plan.gas,
    maxFeePerGas: plan.maxFeePerGas,
    maxPriorityFeePerGas: plan.maxPriorityFeePerGas,
  });
  at(ctx, "after-sign", plan.batchId);
  const txHash = keccak256(rawTx).toLowerCase();
  await ctx.db.transaction().execute(async (trx) => {
    const updated = await moveBatch(trx, plan.batchId, "signed")
      .set({
        nonce: BigInt(plan.nonce),
        raw_tx: rawTx,
        tx_hash: txHash,
        fee_bumps: plan.bumps,
        lease_expires_at: lease(ctx),
        updated_at: sql<Date>`now()`,
      })
      .returning("id")
      .executeTakeFirst();
    if (!updated) throw new Error(`batch ${plan.batchId} was resolved by another run`);
    await trx
      .insertInto("mint_batch_txs")
      .values({
        tx_hash: txHash,
        batch_id: plan.batchId,
        nonce: BigInt(plan.nonce),
        raw_tx: rawTx,
        max_fee_per_gas: plan.maxFeePerGas.toString(),
        max_priority_fee_per_gas: plan.maxPriorityFeePerGas.toString(),
      })
      .execute();
  });
  at(ctx, "after-persist", plan.batchId);
  return rawTx;
}

/**
 * Broadcasts; never throws: whether it landed is decided by the chain in the confirmation loop.
 * Returns whether the node took it (or already had it).
 */
export async function broadcast(ctx: MinterContext, batchId: bigint, rawTx: Hex): Promise<boolean> {
  let accepted = true;
  try {
    await ctx.chain.publicClient.sendRawTransaction({ serializedTransaction: rawTx });
  } catch (error) {
    if (!isBenignBroadcastError(error)) {
      accepted = false;
      ctx.logger.warn(
        { batchId: batchId.toString(), error: describe(error) },
        "broadcast failed; will retry",
      );
    }
  }
  await ctx.db
    .updateTable("mint_batches")
    .set({ broadcast_at: sql<Date>`now()` })
    .where("id", "=", batchId)
    .execute()
    .catch(() => undefined);
  return accepted;
}

/** Replacement fees: raised by the bump, at least today's estimate, never above the ceiling. */
async function bumpedFees(ctx: MinterContext, plan: TxPlan) {
  const { cfg } = ctx;
  const factor = BigInt(100 + cfg.feeBumpPercent);
  const estimate = await rpc(ctx, "estimateFeesPerGas", () =>
    ctx.chain.publicClient.estimateFeesPerGas(),
  ).catch(() => undefined);
  let maxPriorityFeePerGas = (plan.maxPriorityFeePerGas * factor + 99n) / 100n + 1n;
  let maxFeePerGas = (plan.maxFeePerGas * factor + 99n) / 100n + 1n;
  if (estimate && estimate.maxFeePerGas > maxFeePerGas) maxFeePerGas = estimate.maxFeePerGas;
  if (maxFeePerGas > cfg.maxFeePerGasWei) maxFeePerGas = cfg.maxFeePerGasWei;
  if (maxPriorityFeePerGas > maxFeePerGas) maxPriorityFeePerGas = maxFeePerGas;
  return { maxFeePerGas, maxPriorityFeePerGas };
}

/** A replacement: same nonce, fees raised by the bump (and at least to today's estimate), capped. */
async function bumpFee(ctx: MinterContext, plan: TxPlan): Promise<boolean> {
  const { cfg, stats } = ctx;
  if (plan.bumps >= cfg.maxFeeBumps) return false;
  const { maxFeePerGas, maxPriorityFeePerGas } = await bumpedFees(ctx, plan);
  // Nodes refuse a replacement below +10% on both fees: at the ceiling there is nothing left to try.
  if (
    maxFeePerGas * 10n < plan.maxFeePerGas * 11n ||
    maxPriorityFeePerGas * 10n < plan.maxPriorityFeePerGas * 11n
  ) {
    stats.lastError = `batch ${plan.batchId}: fee ceiling MINT_MAX_FEE_GWEI reached, transaction stuck`;
    ctx.logger.error({ alert: "mint_fee_ceiling", batchId: plan.batchId.toString() }, stats.lastError);
    plan.bumps = cfg.maxFeeBumps;
    return false;
  }
  const next = { ...plan, maxFeePerGas, maxPriorityFeePerGas, bumps: plan.bumps + 1 };
  const rawTx = await signAndPersist(ctx, next);
  Object.assign(plan, next, {
    latestRaw: rawTx,
    hashes: [...plan.hashes, keccak256(rawTx)],
    signedAt: Date.now(),
  });
  stats.feeBumps++;
  ctx.logger.warn(
    { batchId: plan.batchId.toString(), bumps: plan.bumps, maxFeePerGas: maxFeePerGas.toString() },
    "transaction stuck: replaced with a higher fee",
  );
  await broadcast(ctx, plan.batchId, rawTx);
  plan.lastBroadcastAt = Date.now();
  return true;
}

/**
 * Whether the node knows the batch's latest transaction. A pipeline asks while later batches wait
 * behind this one's nonce: a transaction the node lost (a failed or dropped broadcast) holds every later
 * nonce back, so it is resent at once rather than at the next periodic rebroadcast.
 */
async function nodeKnows(ctx: MinterContext, plan: TxPlan): Promise<boolean> {
  const hash = plan.hashes.at(-1);
  if (!hash) return false;
  return rpc(ctx, "getTransaction", () => ctx.chain.publicClient.getTransaction({ hash })).then(
    () => true,
    (error) => {
      if (isNotFound(error)) return false;
      throw error;
    },
  );
}

/** The receipt of any of the plan's hashes, newest first; undefined while none is mined. */
async function anyReceipt(ctx: MinterContext, plan: TxPlan): Promise<TransactionReceipt | undefined> {
  for (const hash of [...plan.hashes].reverse()) {
    const receipt = await rpc(ctx, "getTransactionReceipt", () =>
      ctx.chain.publicClient.getTransactionReceipt({ hash }),
    ).catch((error) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    if (receipt) return receipt;
  }
  return undefined;
}

/**
 * Waits until one of the batch's transactions is mined with enough confirmations, or its nonce is used
 * by some other transaction, or the timeout passes. Rebroadcasts (a node may drop it) and replaces a
 * stuck transaction with a higher fee. The nonce is read BEFORE the receipts: when it is spent and
 * none of our hashes has a receipt, the answer is final. `behind`: the batches a pipeline has sent with
 * later nonces — their leases are renewed with this one's, and while any waits, a transaction of this
 * batch that the node does not know is resent at once (the nonce gap).
 */
export async function drive(
  ctx: MinterContext,
  plan: TxPlan,
  options: { rebroadcastNow: boolean; timeoutSeconds?: number; behind?: () => bigint[] },
): Promise<Outcome> {
  const { cfg, chain } = ctx;
  const deadline = Date.now() + (options.timeoutSeconds ?? cfg.confirmTimeoutSeconds) * 1000;
  const rebroadcastMs = Math.max(1000, (cfg.stuckSeconds * 1000) / 3);
  let lastBroadcast = options.rebroadcastNow ? 0 : (plan.lastBroadcastAt ?? Date.now());
  let lastLease = Date.now();
  for (;;) {
    try {
      const spent = await rpc(ctx, "getTransactionCount", () =>
        chain.publicClient.getTransactionCount({ address: chain.operator, blockTag: "latest" }),
      );
      const receipt = await anyReceipt(ctx, plan);
      if (receipt) {
        // Mined, confirmations not yet counted: the "during the confirmation wait" crash point.
        at(ctx, "confirm-wait", plan.batchId);
        const tip = await rpc(ctx, "getBlockNumber", () =>
          chain.publicClient.getBlockNumber({ cacheTime: 0 }),
        );
        if (tip - receipt.blockNumber + 1n >= BigInt(cfg.confirmations)) return { kind: "mined", receipt };
      } else if (spent > plan.nonce) {
        return { kind: "nonce-spent" };
      } else if (Date.now() - plan.signedAt >= cfg.stuckSeconds * 1000 && (await bumpFee(ctx, plan))) {
        lastBroadcast = Date.now();
      } else if (
        Date.now() - lastBroadcast >= rebroadcastMs ||
        (options.behind?.().length && !(await nodeKnows(ctx, plan)))
      ) {
        await broadcast(ctx, plan.batchId, plan.latestRaw);
        lastBroadcast = Date.now();
      }
    } catch (error) {
      // Transient RPC trouble past the retries: keep waiting until the deadline.
      fail(ctx, "rpc", describe(error));
      ctx.logger.warn(
        { batchId: plan.batchId.toString(), error: describe(error) },
        "confirmation check failed",
      );
    }
    if (Date.now() > deadline) return { kind: "timeout" };
    if (ctx.state.stopping) return { kind: "stopped" };
    if (Date.now() - lastLease >= (cfg.leaseSeconds * 1000) / 3) {
      await renewLease(ctx, [plan.batchId, ...(options.behind?.() ?? [])]);
      lastLease = Date.now();
    }
    await sleep(cfg.pollMs);
  }
}

/** The batches are still ours: their leases run again from now (while they are open). */
export async function renewLease(ctx: MinterContext, batchIds: bigint[]): Promise<void> {
  await ctx.db
    .updateTable("mint_batches")
    .set({ lease_expires_at: lease(ctx) })
    .where("id", "in", batchIds)
    .where("status", "in", OPEN_BATCH_STATUSES)
    .execute();
}
