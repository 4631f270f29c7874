import { referralRewardsAbi } from "../../chain/abi.generated.js";
import { isGasCapError } from "../minter-rpc.js";
import { type MinterContext, rpc } from "./context.js";
import { failReward } from "./release.js";
import { encodeBatch, sortForBatch } from "./simulate.js";
import { byId, type ClaimedReward } from "./types.js";

/**
 * Gas a batch needs at most: the fixed part (21,000 intrinsic, ~32k of cold accesses and, on v2, ~42k for
 * the approval check) and a payout to a new holder (~52k with its calldata; docs/contracts.md, "Gas"),
 * rounded up. Checked before use.
 */
export const GAS_BOUND = { fixed: 100_000n, perPayout: 60_000n };

/** The gas a transaction is signed with: the estimate plus headroom (state may move before inclusion). */
export const withHeadroom = (gas: bigint) => (gas * 12n) / 10n + 10_000n;

/** The most gas one transaction may ask for: MINT_MAX_TX_GAS, never above the block gas limit. */
export async function maxTxGas(ctx: MinterContext): Promise<bigint> {
  const { state } = ctx;
  if (!state.blockGasLimit || Date.now() - state.blockGasLimit.at > 60_000) {
    const block = await rpc(ctx, "getBlock", () => ctx.chain.publicClient.getBlock({ blockTag: "latest" }));
    state.blockGasLimit = { value: block.gasLimit, at: Date.now() };
  }
  return state.blockGasLimit.value < ctx.cfg.maxTxGas ? state.blockGasLimit.value : ctx.cfg.maxTxGas;
}

/**
 * Gas for a batch of `rewards` (in batch order): the node's estimate. When the node refuses to estimate
 * for size (`isGasCapError`: Hardhat's estimator probes at about 3x the gas used and trips the 2^24
 * per-transaction cap from ~105 new recipients on, although 200 need only ~10.4M), the sum of its two
 * halves' estimates less one intrinsic 21,000 — an upper bound: the halves each pay the fixed cold
 * accesses and split a recipient run in two. `undefined`: not even one payout can be estimated.
 */
async function estimateBatchGas(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
): Promise<bigint | undefined> {
  const data = await encodeBatch(ctx, batchId, rewards);
  try {
    return await rpc(ctx, "estimateGas", () =>
      ctx.chain.publicClient.estimateGas({ account: ctx.chain.operator, to: ctx.contract, data }),
    );
  } catch (error) {
    if (!isGasCapError(error)) throw error;
    if (rewards.length === 1) return undefined;
    const middle = Math.ceil(rewards.length / 2);
    const head = await estimateBatchGas(ctx, batchId, rewards.slice(0, middle));
    if (head === undefined) return undefined;
    const tail = await estimateBatchGas(ctx, batchId, rewards.slice(middle));
    if (tail === undefined) return undefined;
    return head + tail - 21_000n;
  }
}

/**
 * Whether the batch runs within `gas` (one eth_call with that gas limit): the cheap check of the
 * gas bound. Any failure (out of gas, refused) is a no; the caller then asks `estimateGas`.
 */
async function runsWithin(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  gas: bigint,
): Promise<boolean> {
  try {
    await ctx.chain.publicClient.call({
      account: ctx.chain.operator,
      to: ctx.contract,
      data: await encodeBatch(ctx, batchId, rewards),
      gas,
    });
    return true;
  } catch {
    return false;
  }
}

/** The gas to sign `candidate` with when it fits `cap` (the checked bound, else the estimate), else why not. */
async function gasFor(ctx: MinterContext, batchId: bigint, candidate: ClaimedReward[], cap: bigint) {
  const bound = withHeadroom(GAS_BOUND.fixed + BigInt(candidate.length) * GAS_BOUND.perPayout);
  if (bound <= cap && (await runsWithin(ctx, batchId, candidate, bound))) return { fits: true, gas: bound };
  const estimate = await estimateBatchGas(ctx, batchId, candidate);
  const gas = estimate === undefined ? undefined : withHeadroom(estimate);
  return { fits: gas !== undefined && gas <= cap, gas };
}

/**
 * Sizes the batch by gas: the largest prefix, oldest reward first, whose transaction fits
 * `maxTxGas()`. The gas is first the bound `GAS_BOUND` (plus headroom) checked by one eth_call at
 * that limit — one execution, where Hardhat's estimator runs the batch a dozen times (~0.7 s for 100
 * payouts) — and otherwise the node's estimate plus headroom. A reward that does not fit even alone fails with the reason (and an
 * alert); the rest proceed. Returns the rewards to send (batch order), their gas and what waits.
 */
export async function fitToGas(ctx: MinterContext, batchId: bigint, rewards: ClaimedReward[]) {
  const cap = await maxTxGas(ctx);
  let queue = [...rewards].sort(byId);
  let failed = 0;
  let count = queue.length;
  while (queue.length > 0) {
    const candidate = sortForBatch(queue.slice(0, count));
    const { fits, gas } = await gasFor(ctx, batchId, candidate, cap);
    if (fits) return { send: candidate, gas: gas!, rest: queue.slice(count), failed };
    if (count > 1) {
      // Proportional when the gas is known (a little less each time), else halve.
      const scaled = gas === undefined ? count / 2 : Number((BigInt(count) * cap) / gas);
      count = Math.max(1, Math.min(count - 1, Math.floor(scaled)));
      continue;
    }
    const alone = queue[0]!;
    const reason = `ExceedsTransactionGas: one payout needs ${gas ?? "more than the node will estimate"} gas, the transaction cap is ${cap} (MINT_MAX_TX_GAS / block gas limit)`;
    ctx.logger.error(
      { alert: "mint_payout_exceeds_gas_cap", batchId: batchId.toString(), rewardId: alone.id.toString() },
      reason,
    );
    await failReward(ctx, batchId, alone.id, reason);
    failed++;
    queue = queue.slice(1);
    count = queue.length;
  }
  return { send: [], gas: 0n, rest: [], failed };
}

/**
 * Fits the batch to what the period cap has left (read from the contract): the largest prefix, oldest
 * reward first, whose total fits; the rest wait for the next period. `reservedWei`: what the batches
 * a pipeline has in flight will mint (the contract does not count them until they are mined; counting
 * one already mined twice only makes this batch smaller).
 */
export async function fitToPeriod(ctx: MinterContext, rewards: ClaimedReward[], reservedWei = 0n) {
  const ordered = [...rewards].sort(byId);
  if (ordered.length === 0) return { send: ordered, wait: ordered, leftWei: 0n };
  const remaining = await rpc(ctx, "remainingInCurrentPeriod", () =>
    ctx.chain.publicClient.readContract({
      address: ctx.contract,
      abi: referralRewardsAbi,
      functionName: "remainingInCurrentPeriod",
    }),
  );
  const leftWei = remaining > reservedWei ? remaining - reservedWei : 0n;
  let total = 0n;
  let count = 0;
  for (; count < ordered.length; count++) {
    const next = total + BigInt(ordered[count]!.amount_wei);
    if (next > leftWei) break;
    total = next;
  }
  return { send: ordered.slice(0, count), wait: ordered.slice(count), leftWei };
}

/** Records what waits for the next period (stats, /readyz); `wait` empty clears it. */
export async function noteWaitingForPeriod(ctx: MinterContext, wait: ClaimedReward[], leftWei: bigint) {
  const { stats } = ctx;
  stats.waitingForPeriod = wait.length;
  stats.waitingForPeriodWei = wait.reduce((sum, reward) => sum + BigInt(reward.amount_wei), 0n);
  stats.nextPeriodAt = null;
  if (wait.length === 0) return;
  const length = await rpc(ctx, "periodLength", () =>
    ctx.chain.publicClient.readContract({
      address: ctx.contract,
      abi: referralRewardsAbi,
      functionName: "periodLength",
    }),
  ).catch(() => undefined);
  if (length) {
    const now = BigInt(Math.floor(Date.now() / 1000));
    stats.nextPeriodAt = new Date(Number((now / length + 1n) * length) * 1000);
  }
  ctx.logger.warn(
    {
      waitingForPeriod: wait.length,
      waitingForPeriodWei: stats.waitingForPeriodWei.toString(),
      remainingInPeriodWei: leftWei.toString(),
      nextPeriodAt: stats.nextPeriodAt?.toISOString() ?? null,
    },
    "period mint cap reached: rewards wait for the next period",
  );
}
