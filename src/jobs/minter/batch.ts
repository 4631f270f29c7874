import { sql } from "kysely";
import { keccak256 } from "viem";
import type { MintBatch } from "../../db/schema.js";
import { OPEN_BATCH_STATUSES } from "../../domain/mint-batch-state.js";
import { describe } from "../minter-rpc.js";
import { claim, mintingRewards, openBatch } from "./claim.js";
import { at, clearBackoff, enterBackoff, fail, type MinterContext } from "./context.js";
import { fitToGas, fitToPeriod, noteWaitingForPeriod } from "./fit.js";
import { release } from "./release.js";
import { resolveFromChain } from "./resolve.js";
import { broadcast, drive, planFirstTx, signAndPersist } from "./send.js";
import { settle } from "./settle.js";
import { simulateAndIsolate } from "./simulate.js";
import type { BatchBase, ClaimedReward, MintRunResult, TxPlan } from "./types.js";
import { awaitWalletApproval, continueWalletBatch, needsWalletApproval, type WalletNext } from "./wallet.js";

/** What one batch has put aside so far: every result of the run reports it. */
export interface Tally {
  alreadyPaid: number;
  failed: number;
  deferred: number;
  waitingForPeriod: number;
}

type Prepared = { result: MintRunResult } | { plan: TxPlan; remaining: ClaimedReward[] };

/** A batch signed, persisted and broadcast, waiting for its receipt (pipeline.ts drives it). */
export interface InFlight {
  plan: TxPlan;
  remaining: ClaimedReward[];
  base: BatchBase;
  tally: Tally;
  /** What it will mint: reserved against the period cap while later batches are sized. */
  totalWei: bigint;
  /** Whether the node took its broadcast; if not, nothing more is sent until it is resolved. */
  accepted: boolean;
  /** A wallet-mode batch, sent exactly as the wallet signed it: never pipelined. */
  wallet: boolean;
}

/** What a claim led to: a result with nothing in flight, or a batch sent and waiting for its receipt. */
export type Dispatched = { result: MintRunResult } | { sent: InFlight };

/** How a pipeline claims its next batch: `first` of the pass, the nonce after the previous one's. */
export interface ClaimOptions {
  first: boolean;
  nonceAtLeast?: number;
  /** What the batches in flight will mint (the period cap does not count them until mined). */
  reservedWei: bigint;
}

const EMPTY = { batchId: null, rewardIds: [], txHash: null, minted: 0, skipped: 0, failed: 0 };

/** A result of a batch that failed before it was sent, or was interrupted in flight. */
function failedResult(base: BatchBase, tally: Tally, error: string): MintRunResult {
  return {
    ...base,
    status: "failed",
    txHash: null,
    minted: 0,
    skipped: tally.alreadyPaid,
    failed: tally.failed,
    error,
  };
}

/** A result of a batch released before anything was signed (`error` when it was refused). */
function releasedResult(base: BatchBase, tally: Tally, error?: string): MintRunResult {
  return {
    ...base,
    status: "released",
    txHash: null,
    minted: 0,
    skipped: tally.alreadyPaid,
    failed: tally.failed,
    ...(error
      ? { waitingForPeriod: tally.waitingForPeriod, error }
      : {
          ...(tally.deferred ? { deferred: tally.deferred } : {}),
          ...(tally.waitingForPeriod ? { waitingForPeriod: tally.waitingForPeriod } : {}),
        }),
  };
}

/**
 * Claims one batch and takes it to the chain: check, fit, simulate, sign, persist, broadcast. The
 * receipt is awaited by the caller (`complete`). Only the first claim of a pass looks for an open batch
 * (wallet mode's, or one left by another run); later ones run beside the pass's own batches in flight.
 */
export async function claimAndSend(
  ctx: MinterContext,
  limit: number,
  options: ClaimOptions,
): Promise<Dispatched> {
  if (options.first) {
    const open = await openBatch(ctx);
    if (open?.status === "awaiting_approval" || open?.status === "approval_signed") {
      return continueWallet(ctx, open);
    }
    if (open) {
      return {
        result: { ...EMPTY, batchId: open.id.toString(), status: "waiting", error: "a batch is in flight" },
      };
    }
  }

  const claimed = await claim(ctx, limit);
  if (!claimed) return { result: { ...EMPTY, status: "empty" } };
  const { batchId } = claimed;
  const base = {
    batchId: batchId.toString(),
    rewardIds: claimed.rewards.map((reward) => reward.id.toString()),
  };
  ctx.stats.batches++;
  at(ctx, "after-claim", batchId);

  const tally: Tally = { alreadyPaid: 0, failed: 0, deferred: 0, waitingForPeriod: 0 };
  let prepared: Prepared;
  try {
    prepared = await prepare(ctx, batchId, claimed.rewards, base, tally, options);
  } catch (error) {
    return { result: await releaseBeforeSigning(ctx, batchId, base, tally, error) };
  }
  if ("result" in prepared) return prepared;
  return dispatch(ctx, prepared.plan, prepared.remaining, base, tally, false);
}

/**
 * Steps 3 to 4, before anything is signed: what the chain already paid, the period cap, the
 * simulation, the gas; the rest goes back to `approved` in one step. Returns the first transaction's
 * plan, or the run's result when nothing is to be sent.
 */
async function prepare(
  ctx: MinterContext,
  batchId: bigint,
  claimed: ClaimedReward[],
  base: BatchBase,
  tally: Tally,
  options: ClaimOptions,
): Promise<Prepared> {
  // Step 3: what the chain already paid (a crash after broadcast, another instance) is not paid again.
  // A reward claimed for the first time was never in a transaction of ours: nothing to look up (were
  // it paid by anything else, the contract skips it and the receipt's check resolves it from its log).
  const seen = claimed.filter((reward) => reward.attempts > 1);
  const unpaid = [
    ...claimed.filter((reward) => reward.attempts <= 1),
    ...(await resolveFromChain(ctx, batchId, seen)),
  ];
  tally.alreadyPaid = claimed.length - unpaid.length;
  // Step 3b: fit the period cap (read from the contract); what does not fit waits for the next period.
  const period = await fitToPeriod(ctx, unpaid, options.reservedWei);
  tally.waitingForPeriod = period.wait.length;
  await noteWaitingForPeriod(ctx, period.wait, period.leftWei);
  const waitGroup = { ids: period.wait.map((reward) => reward.id), reason: "PeriodCapExceeded" };
  if (period.send.length === 0 && period.wait.length > 0 && options.reservedWei > 0n) {
    // Only with the batches in flight counted does nothing fit: no back-off, the pass ends with them
    // and the next one reads the cap again (some of what was reserved may already be mined).
    await release(
      ctx,
      batchId,
      waitGroup.ids,
      "PeriodCapExceeded: waits for the batches in flight",
      "released",
    );
    return { result: releasedResult(base, tally, "PeriodCapExceeded: waits for the batches in flight") };
  }
  if (period.send.length === 0 && period.wait.length > 0) {
    // Nothing fits the period's remaining allowance: the one case of a cap back-off.
    await release(ctx, batchId, waitGroup.ids, "PeriodCapExceeded", "released");
    enterBackoff(ctx, "PeriodCapExceeded", ctx.stats.nextPeriodAt);
    return { result: releasedResult(base, tally, "PeriodCapExceeded") };
  }
  if (await needsWalletApproval(ctx)) {
    // Wallet mode: sized and persisted with its typed data; the admin's wallet signs it (wallet.ts).
    return { result: await awaitWalletApproval(ctx, batchId, period.send, waitGroup, base) };
  }
  const simulated = await simulateAndIsolate(ctx, batchId, period.send);
  tally.failed = simulated.failed;
  if (simulated.globalError) {
    const ids = simulated.remaining.map((reward) => reward.id);
    await release(ctx, batchId, ids, simulated.globalError, "released", { more: [waitGroup] });
    enterBackoff(ctx, simulated.globalError);
    return { result: releasedResult(base, tally, simulated.globalError) };
  }
  return fitAndPlan(ctx, batchId, simulated.remaining, waitGroup, base, tally, options.nonceAtLeast);
}

/**
 * Step 3c: size by gas — the largest prefix whose transaction fits; the rest go to the next batch,
 * released with what waits for the period in one step before anything is signed. Then step 4: the
 * plan of the first transaction (nonce and fees).
 */
async function fitAndPlan(
  ctx: MinterContext,
  batchId: bigint,
  simulated: ClaimedReward[],
  waitGroup: { ids: bigint[]; reason: string },
  base: BatchBase,
  tally: Tally,
  nonceAtLeast: number | undefined,
): Promise<Prepared> {
  const fitted = await fitToGas(ctx, batchId, simulated);
  tally.failed += fitted.failed;
  const remaining = fitted.send;
  tally.deferred = fitted.rest.length;
  const restGroup = { ids: fitted.rest.map((reward) => reward.id), reason: "does not fit the transaction" };
  if (remaining.length === 0) {
    await release(ctx, batchId, [], "nothing left to send", "released", { more: [waitGroup, restGroup] });
    if (tally.alreadyPaid > 0) clearBackoff(ctx);
    return { result: releasedResult(base, tally) };
  }
  if (fitted.rest.length || waitGroup.ids.length) {
    // Released in one step before anything is signed: the batch keeps only what it will send.
    await release(ctx, batchId, waitGroup.ids, "PeriodCapExceeded", null, { more: [restGroup], trim: true });
    const trimmed = new Set([...waitGroup.ids, ...restGroup.ids].map((id) => id.toString()));
    base.rewardIds = base.rewardIds.filter((id) => !trimmed.has(id));
    if (tally.deferred) {
      ctx.stats.deferredForGas += tally.deferred;
      ctx.logger.info(
        {
          batchId: base.batchId,
          sending: remaining.length,
          deferred: tally.deferred,
          gas: fitted.gas.toString(),
        },
        "mint batch cut to what fits one transaction; the rest go to the next batch",
      );
    }
  }
  clearBackoff(ctx);
  // Step 4: nonce and fees (gas from step 3c); then sign, persist nonce + raw tx + hash, only then broadcast.
  return { plan: await planFirstTx(ctx, batchId, remaining, fitted.gas, { nonceAtLeast }), remaining };
}

/** An open wallet-mode batch: waits for its signature, expires, or is sent exactly as signed. */
async function continueWallet(ctx: MinterContext, batch: MintBatch): Promise<Dispatched> {
  const rewards = await mintingRewards(ctx, batch.id);
  const base = { batchId: batch.id.toString(), rewardIds: rewards.map((reward) => reward.id.toString()) };
  const tally: Tally = { alreadyPaid: 0, failed: 0, deferred: 0, waitingForPeriod: 0 };
  let next: WalletNext;
  try {
    next = await continueWalletBatch(ctx, batch, rewards);
  } catch (error) {
    return { result: await releaseBeforeSigning(ctx, batch.id, base, tally, error) };
  }
  if ("result" in next) return next;
  ctx.stats.batches++;
  const plan = await planFirstTx(ctx, batch.id, next.send.rewards, next.send.gas, { signed: next.send.data });
  return dispatch(ctx, plan, next.send.rewards, base, tally, true);
}

/** Nothing was signed: every reward of the batch goes straight back to `approved`. */
async function releaseBeforeSigning(
  ctx: MinterContext,
  batchId: bigint,
  base: BatchBase,
  tally: Tally,
  error: unknown,
): Promise<MintRunResult> {
  const message = describe(error);
  const left = await mintingRewards(ctx, batchId);
  await release(
    ctx,
    batchId,
    left.map((reward) => reward.id),
    `before signing: ${message}`,
    "released",
  );
  fail(ctx, "rpc", message);
  ctx.logger.error({ batchId: base.batchId, error: message }, "mint batch released before signing");
  return failedResult(base, tally, message);
}

/** Signs, persists (nonce, raw tx, hash) and only then broadcasts: the batch is in flight. */
async function dispatch(
  ctx: MinterContext,
  plan: TxPlan,
  remaining: ClaimedReward[],
  base: BatchBase,
  tally: Tally,
  wallet: boolean,
): Promise<Dispatched> {
  const { batchId } = plan;
  try {
    const rawTx = await signAndPersist(ctx, plan);
    plan.latestRaw = rawTx;
    plan.hashes = [keccak256(rawTx)];
    plan.signedAt = Date.now();
    const accepted = await broadcast(ctx, batchId, rawTx);
    plan.lastBroadcastAt = Date.now();
    at(ctx, "after-broadcast", batchId);
    const totalWei = remaining.reduce((sum, reward) => sum + BigInt(reward.amount_wei), 0n);
    return { sent: { plan, remaining, base, tally, totalWei, accepted, wallet } };
  } catch (error) {
    return { result: await interrupted(ctx, batchId, base, tally, error) };
  }
}

/**
 * Step 5 for a batch in flight: its receipt with CHAIN_CONFIRMATIONS, then the logs decide which rows
 * are minted. `behind`: the batches sent after it (later nonces). `nonceUsed`: the chain used this
 * batch's nonce (mined, reverted, or taken by another transaction), so the later ones can be mined.
 */
export async function complete(
  ctx: MinterContext,
  batch: InFlight,
  behind: () => bigint[],
): Promise<{ result: MintRunResult; nonceUsed: boolean }> {
  const { plan, remaining, base, tally } = batch;
  try {
    const outcome = await drive(ctx, plan, { rebroadcastNow: !batch.accepted, behind });
    const result = await settle(ctx, plan.batchId, remaining, outcome, base);
    return {
      nonceUsed: outcome.kind === "mined" || outcome.kind === "nonce-spent",
      result: {
        ...result,
        skipped: result.skipped + tally.alreadyPaid,
        failed: result.failed + tally.failed,
        ...(tally.deferred ? { deferred: tally.deferred } : {}),
        ...(tally.waitingForPeriod ? { waitingForPeriod: tally.waitingForPeriod } : {}),
      },
    };
  } catch (error) {
    return { result: await interrupted(ctx, plan.batchId, base, tally, error), nonceUsed: false };
  }
}

/**
 * A batch in flight behind one whose nonce the chain has not used (timed out, shutting down,
 * interrupted): it cannot be mined before it, so it is not waited for. Signed and persisted, its lease
 * expired: the next run's recovery resumes it, in nonce order.
 */
export async function leaveToRecovery(
  ctx: MinterContext,
  batch: InFlight,
  reason: string,
): Promise<MintRunResult> {
  await ctx.db
    .updateTable("mint_batches")
    .set({ lease_expires_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
    .where("id", "=", batch.plan.batchId)
    .where("status", "in", OPEN_BATCH_STATUSES)
    .execute()
    .catch(() => undefined);
  ctx.logger.info({ batchId: batch.base.batchId, reason }, "mint batch left to recovery");
  return {
    ...batch.base,
    status: "waiting",
    txHash: null,
    minted: 0,
    skipped: batch.tally.alreadyPaid,
    failed: batch.tally.failed,
    error: reason,
  };
}

/** Possibly signed and sent: never released blindly. The lease expires; recovery asks the chain. */
async function interrupted(
  ctx: MinterContext,
  batchId: bigint,
  base: BatchBase,
  tally: Tally,
  error: unknown,
): Promise<MintRunResult> {
  const message = describe(error);
  await ctx.db
    .updateTable("mint_batches")
    .set({ lease_expires_at: sql<Date>`now()`, error: message })
    .where("id", "=", batchId)
    .where("status", "in", OPEN_BATCH_STATUSES)
    .execute()
    .catch(() => undefined);
  fail(ctx, "interrupted", message);
  ctx.logger.error(
    { batchId: base.batchId, err: error },
    "mint batch interrupted; recovery resolves it from the chain",
  );
  return failedResult(base, tally, message);
}
