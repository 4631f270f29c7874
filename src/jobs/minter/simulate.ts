import { type Address, encodeFunctionData, type Hex } from "viem";
import { referralRewardsV2Abi } from "../../chain/abi.generated.js";
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

/**
 * How long an approval signed for a batch stays valid: the batch's transaction may wait, be replaced with
 * higher fees and be resumed by recovery for up to the confirmation timeout; past the deadline it reverts
 * `ApprovalExpired` and its rewards go back to `approved` for a new batch with a new approval.
 */
const APPROVAL_TTL_SECONDS = 3600n;

/**
 * The call the minter sends for a batch, as the ABI `functionName` and `args` (the v2 ABI is v1's plus the
 * approvals): with the service's approver (service mode, v2), `payReferralBatchApproved` with its
 * signature over exactly these payouts; without one, v1's `payReferralBatch`.
 */
async function batchCall(ctx: MinterContext, batchId: bigint, rewards: ClaimedReward[]) {
  const payouts = payoutsOf(rewards);
  const approver = ctx.chain.approver;
  if (!approver) return { functionName: "payReferralBatch" as const, args: [payouts, batchId] as const };
  const deadline = BigInt(Math.floor(Date.now() / 1000)) + APPROVAL_TTL_SECONDS;
  const approval = await approver.approve({ payouts, batchId, deadline });
  return {
    functionName: "payReferralBatchApproved" as const,
    args: [payouts, batchId, deadline, approval.approver, approval.signature] as const,
  };
}

export async function encodeBatch(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
): Promise<Hex> {
  const call = await batchCall(ctx, batchId, rewards);
  return call.functionName === "payReferralBatch"
    ? encodeFunctionData({ abi: referralRewardsV2Abi, functionName: call.functionName, args: call.args })
    : encodeFunctionData({ abi: referralRewardsV2Abi, functionName: call.functionName, args: call.args });
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
    const call = await batchCall(ctx, batchId, rewards);
    await rpc<unknown>(ctx, "simulate", () =>
      call.functionName === "payReferralBatch"
        ? ctx.chain.publicClient.simulateContract({
            address: ctx.contract,
            abi: referralRewardsV2Abi,
            functionName: call.functionName,
            args: call.args,
            account: ctx.chain.operator,
          })
        : ctx.chain.publicClient.simulateContract({
            address: ctx.contract,
            abi: referralRewardsV2Abi,
            functionName: call.functionName,
            args: call.args,
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
