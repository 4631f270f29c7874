import { type Address, encodeFunctionData, type Hex } from "viem";
import { referralRewardsAbi } from "../../chain/abi.generated.js";
import { GLOBAL_ERRORS, ITEM_ERRORS, type Revert, revertOf } from "../minter-rpc.js";
import { type MinterContext, rpc } from "./context.js";
import { failReward } from "./release.js";
import type { ClaimedReward } from "./types.js";

export function payoutsOf(rewards: ClaimedReward[]) {
  return rewards.map((reward) => ({
    orderRef: reward.order_ref_hash as Hex,
    to: reward.wallet_address as Address,
    amount: BigInt(reward.amount_wei),
  }));
}

export function encodeBatch(batchId: bigint, rewards: ClaimedReward[]): Hex {
  return encodeFunctionData({
    abi: referralRewardsAbi,
    functionName: "payReferralBatch",
    args: [payoutsOf(rewards), batchId],
  });
}

/** Recipient order (the contract mints a run of one recipient once), then id. */
export function sortForBatch(rewards: ClaimedReward[]): ClaimedReward[] {
  return [...rewards].sort((a, b) => a.wallet_address.localeCompare(b.wallet_address) || Number(a.id - b.id));
}

/** eth_call of the batch: undefined when it would succeed, else the revert. RPC failures throw. */
async function simulate(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
): Promise<Revert | undefined> {
  try {
    await rpc(ctx, "simulate", () =>
      ctx.chain.publicClient.simulateContract({
        address: ctx.contract,
        abi: referralRewardsAbi,
        functionName: "payReferralBatch",
        args: [payoutsOf(rewards), batchId],
        account: ctx.chain.operator,
      }),
    );
    return undefined;
  } catch (error) {
    const revert = revertOf(error);
    if (!revert) throw error;
    return revert;
  }
}

/** Rewards whose own payout reverts, found by halving (for reverts that do not name their item). */
async function bisect(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
): Promise<ClaimedReward[]> {
  if (!(await simulate(ctx, batchId, rewards))) return [];
  if (rewards.length === 1) return rewards;
  const middle = Math.ceil(rewards.length / 2);
  return [
    ...(await bisect(ctx, batchId, rewards.slice(0, middle))),
    ...(await bisect(ctx, batchId, rewards.slice(middle))),
  ];
}

/**
 * Simulates the batch, failing the rewards that revert on their own (named by the revert, or found
 * by bisection) so that the rest proceed. A global revert (paused, cap) is returned, not retried.
 */
export async function simulateAndIsolate(ctx: MinterContext, batchId: bigint, rewards: ClaimedReward[]) {
  let remaining = sortForBatch(rewards);
  let failed = 0;
  while (remaining.length > 0) {
    const revert = await simulate(ctx, batchId, remaining);
    if (!revert) return { remaining, failed, globalError: undefined };
    const name = revert.errorName;
    if (name && GLOBAL_ERRORS.has(name)) return { remaining, failed, globalError: name };
    const orderRef = typeof revert.args[0] === "string" ? revert.args[0].toLowerCase() : undefined;
    const named =
      name && ITEM_ERRORS.has(name) && orderRef
        ? remaining.filter((reward) => reward.order_ref_hash.toLowerCase() === orderRef)
        : [];
    const culprits = named.length ? named : await bisect(ctx, batchId, remaining);
    // Every item failing alone with an unnamed revert is not an item's fault: treat it as global.
    if (culprits.length === 0 || (culprits.length === remaining.length && remaining.length > 1)) {
      return { remaining, failed, globalError: name ?? revert.message };
    }
    for (const culprit of culprits) {
      await failReward(ctx, batchId, culprit.id, `${name ?? "revert"}: ${revert.message}`);
    }
    remaining = remaining.filter((reward) => !culprits.includes(reward));
    failed += culprits.length;
  }
  return { remaining, failed, globalError: undefined };
}
