import { sql } from "kysely";
import { type Address, encodeFunctionData, type Hex } from "viem";
import { referralRewardsV2Abi } from "../../chain/abi.generated.js";
import type { ApprovalPayoutJson, MintBatch } from "../../db/schema.js";
import { GLOBAL_ERRORS, ITEM_ERRORS, revertOf } from "../minter-rpc.js";
import { clearBackoff, enterBackoff, type MinterContext, rpc } from "./context.js";
import { GAS_BOUND, maxTxGas, withHeadroom } from "./fit.js";
import { failReward, release } from "./release.js";
import { sortForBatch } from "./simulate.js";
import { moveBatch } from "./transitions.js";
import type { BatchBase, ClaimedReward, MintRunResult } from "./types.js";

/**
 * Wallet mode (APPROVER_KEYS_MODE=wallet, docs/contracts.md "Wallet mode"): the service holds no approver
 * key, so a batch that needs an approval is sized, persisted with its EIP-712 typed data and left in
 * `awaiting_approval` — nothing is signed or broadcast. The admin's wallet signs it, the API verifies and
 * stores the signature (`approval_signed`, src/ledger/mint-approvals.ts), and the next pass sends exactly
 * that batch. A batch whose deadline is too close to land is released, its rewards back to `approved`.
 */

/** How long a wallet has to sign: a person signs it, so longer than the service's one hour. */
export const WALLET_APPROVAL_TTL_SECONDS = 24n * 3600n;

/** A signed batch is not sent with less than this left before its deadline: it could expire in flight. */
const SEND_MARGIN_SECONDS = 600n;

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));

/** Approvals are needed and no service key signs them: a v2 contract with approvals on, wallet mode. */
export async function needsWalletApproval(ctx: MinterContext): Promise<boolean> {
  if (ctx.chain.contractVersion !== 2 || ctx.chain.approver) return false;
  return rpc(ctx, "approvalsRequired", () =>
    ctx.chain.publicClient.readContract({
      address: ctx.contract,
      abi: referralRewardsV2Abi,
      functionName: "approvalsRequired",
    }),
  );
}

/**
 * Sizes the batch without a signature (nothing can be simulated or estimated before the approver signs):
 * recipient order, cut to the gas bound `GAS_BOUND` within MINT_MAX_TX_GAS, the rest released with what
 * waits for the period in one step; then `claimed → awaiting_approval` with the typed data's payouts and
 * deadline. Nothing is signed or broadcast.
 */
export async function awaitWalletApproval(
  ctx: MinterContext,
  batchId: bigint,
  send: ClaimedReward[],
  waitGroup: { ids: bigint[]; reason: string },
  base: BatchBase,
): Promise<MintRunResult> {
  const sorted = sortForBatch(send);
  const room = (withHeadroomInverse(await maxTxGas(ctx)) - GAS_BOUND.fixed) / GAS_BOUND.perPayout;
  const keep = sorted.slice(0, Math.max(1, Number(room < 200n ? room : 200n)));
  const rest = sorted.slice(keep.length);
  const restGroup = { ids: rest.map((reward) => reward.id), reason: "does not fit the transaction" };
  if (rest.length || waitGroup.ids.length) {
    await release(ctx, batchId, waitGroup.ids, "PeriodCapExceeded", null, { more: [restGroup], trim: true });
    const trimmed = new Set([...waitGroup.ids, ...restGroup.ids].map((id) => id.toString()));
    base.rewardIds = base.rewardIds.filter((id) => !trimmed.has(id));
  }
  const payouts: ApprovalPayoutJson[] = keep.map((reward) => ({
    orderRef: reward.order_ref_hash,
    to: reward.wallet_address,
    amount: BigInt(reward.amount_wei).toString(),
  }));
  const deadline = nowSeconds() + WALLET_APPROVAL_TTL_SECONDS;
  const moved = await moveBatch(ctx.db, batchId, "awaiting_approval")
    .set({
      approval_payouts: JSON.stringify(payouts),
      approval_deadline: deadline,
      updated_at: sql<Date>`now()`,
    })
    .returning("id")
    .executeTakeFirst();
  if (!moved) throw new Error(`batch ${batchId} was resolved by another run`);
  clearBackoff(ctx);
  ctx.logger.info(
    { batchId: base.batchId, payouts: payouts.length, deadline: deadline.toString() },
    "mint batch awaiting the approver's wallet signature",
  );
  return { ...waiting(base), deferred: rest.length || undefined };
}

/** The largest gas whose headroom-padded value stays within `cap` (the inverse of `withHeadroom`). */
function withHeadroomInverse(cap: bigint): bigint {
  const gas = ((cap - 10_000n) * 10n) / 12n;
  return withHeadroom(gas) <= cap ? gas : gas - 1n;
}

const waiting = (base: BatchBase): MintRunResult => ({
  ...base,
  status: "waiting",
  txHash: null,
  minted: 0,
  skipped: 0,
  failed: 0,
  error: "awaiting_approval",
});

/** The stored batch as the contract call's arguments, or undefined when its rewards no longer match. */
function approvedCall(batch: MintBatch, rewards: ClaimedReward[]) {
  const stored = batch.approval_payouts ?? [];
  const byRef = new Map(rewards.map((reward) => [reward.order_ref_hash.toLowerCase(), reward]));
  const ordered = stored.map((payout) => byRef.get(payout.orderRef.toLowerCase()));
  if (ordered.some((reward) => !reward) || ordered.length !== rewards.length) return undefined;
  const payouts = stored.map((payout) => ({
    orderRef: payout.orderRef as Hex,
    to: payout.to as Address,
    amount: BigInt(payout.amount),
  }));
  const args = [
    payouts,
    batch.id,
    batch.approval_deadline ?? 0n,
    batch.approval_approver as Address,
    batch.approval_signature as Hex,
  ] as const;
  return { rewards: ordered as ClaimedReward[], args };
}

export type WalletNext =
  | { result: MintRunResult }
  | { send: { rewards: ClaimedReward[]; data: Hex; gas: bigint } };

/**
 * The open wallet-mode batch on a pass: still awaiting a signature (waits), expired (released), or signed
 * (simulated with its signature, estimated, and handed back to be sent as it is). A revert of the exact
 * signed batch releases it — a named item fails alone — since no subset carries the signature.
 */
export async function continueWalletBatch(
  ctx: MinterContext,
  batch: MintBatch,
  rewards: ClaimedReward[],
): Promise<WalletNext> {
  const base = { batchId: batch.id.toString(), rewardIds: rewards.map((reward) => reward.id.toString()) };
  const ids = rewards.map((reward) => reward.id);
  const deadline = batch.approval_deadline ?? 0n;
  if (deadline - SEND_MARGIN_SECONDS <= nowSeconds()) {
    await release(ctx, batch.id, ids, "ApprovalExpired: not signed and sent before the deadline", "released");
    ctx.logger.warn({ batchId: base.batchId }, "wallet approval expired; rewards back to approved");
    return { result: { ...waiting(base), status: "released", error: "ApprovalExpired" } };
  }
  if (batch.status === "awaiting_approval" && ctx.chain.approver) {
    // The service signs now (service mode since): released, re-sized and signed by the service next pass.
    await release(ctx, batch.id, ids, "a service approver signs batches now: re-sized", "released");
    return { result: { ...waiting(base), status: "released", error: "re-sized for the service approver" } };
  }
  if (batch.status === "awaiting_approval") return { result: waiting(base) };
  const call = approvedCall(batch, rewards);
  if (!call) {
    await release(ctx, batch.id, ids, "the batch's rewards changed after it was signed", "released");
    return { result: { ...waiting(base), status: "released", error: "approval does not match the batch" } };
  }
  const data = encodeFunctionData({
    abi: referralRewardsV2Abi,
    functionName: "payReferralBatchApproved",
    args: call.args,
  });
  try {
    const gas = await rpc(ctx, "estimateGas", () =>
      ctx.chain.publicClient.estimateGas({ account: ctx.chain.operator, to: ctx.contract, data }),
    );
    return { send: { rewards: call.rewards, data, gas: withHeadroom(gas) } };
  } catch (error) {
    const revert = revertOf(error);
    if (!revert) throw error;
    return { result: await releaseReverted(ctx, batch.id, call.rewards, revert, base) };
  }
}

/** The signed batch reverts: a named item fails, everything else goes back to `approved`. */
async function releaseReverted(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
  revert: NonNullable<ReturnType<typeof revertOf>>,
  base: BatchBase,
): Promise<MintRunResult> {
  const name = revert.errorName ?? revert.message;
  const orderRef = typeof revert.args[0] === "string" ? revert.args[0].toLowerCase() : undefined;
  const culprits =
    revert.errorName && ITEM_ERRORS.has(revert.errorName) && orderRef
      ? rewards.filter((reward) => reward.order_ref_hash.toLowerCase() === orderRef)
      : [];
  for (const culprit of culprits) await failReward(ctx, batchId, culprit.id, `${name}: ${revert.message}`);
  const rest = rewards.filter((reward) => !culprits.includes(reward)).map((reward) => reward.id);
  await release(ctx, batchId, rest, `signed batch reverts: ${name}`, "released");
  if (revert.errorName && GLOBAL_ERRORS.has(revert.errorName)) enterBackoff(ctx, revert.errorName);
  return { ...waiting(base), status: "released", failed: culprits.length, error: name };
}
