import {
  BaseError,
  ContractFunctionRevertedError,
  decodeErrorResult,
  type Hex,
  RawContractError,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
} from "viem";
import { referralRewardsV2Abi } from "../chain/abi.generated.js";

/** What a contract revert said, when the chain answered with one (as opposed to an RPC failure). */
export interface Revert {
  errorName: string | undefined;
  args: readonly unknown[];
  message: string;
}

/** Reverts that refuse the whole batch whatever its items: waiting (and an alert) is the only answer. */
export const GLOBAL_ERRORS = new Set([
  "EnforcedPause",
  "PeriodCapExceeded",
  "AccessControlUnauthorizedAccount",
  // ReferralRewardsV2 approvals: no approval source (wallet mode), or one the contract refuses.
  "ApprovalRequired",
  "ApprovalExpired",
  "ApprovalReplayed",
  "InvalidApproval",
  "NotApprover",
]);
/** Reverts caused by one item (named by its orderRef): that reward fails, the rest proceed. */
export const ITEM_ERRORS = new Set(["InvalidPayout", "PayoutTooLarge", "AlreadyPaid"]);

/** The contract revert inside a viem error, or undefined when the error is not a revert (network, 5xx…). */
export function revertOf(error: unknown): Revert | undefined {
  if (!(error instanceof BaseError)) return undefined;
  const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError) {
    return {
      errorName: reverted.data?.errorName,
      args: (reverted.data?.args ?? []) as readonly unknown[],
      message: reverted.shortMessage,
    };
  }
  // eth_estimateGas and raw calls surface revert data without the contract wrapper.
  const raw = error.walk((e) => e instanceof RawContractError);
  if (raw instanceof RawContractError && typeof raw.data === "string" && raw.data.length >= 10) {
    try {
      const decoded = decodeErrorResult({ abi: referralRewardsV2Abi, data: raw.data as Hex });
      return { errorName: decoded.errorName, args: decoded.args ?? [], message: raw.shortMessage };
    } catch {
      return { errorName: undefined, args: [], message: raw.shortMessage };
    }
  }
  return undefined;
}

/**
 * The node refuses a transaction (or its estimate) for its size, not its content: the gas it needs, or
 * the gas the node's estimator probes with, is above the block gas limit or the per-transaction cap
 * (EIP-7825, 2^24 since Osaka). Hardhat's in-process network (EDR) answers -32602 "transaction gas
 * limit (N) is greater than the cap (16777216)" — viem's "Missing or invalid parameters" — as soon
 * as its estimator's probe (about 3x the gas used) passes the cap; geth answers "gas required exceeds
 * allowance". An answer, never retried: the minter splits the batch instead.
 */
export function isGasCapError(error: unknown): boolean {
  if (revertOf(error)) return false;
  const text = (
    error instanceof BaseError
      ? [error.shortMessage, error.details, error.message].join(" ")
      : error instanceof Error
        ? error.message
        : String(error)
  ).toLowerCase();
  return [
    "greater than the cap",
    "exceeds block gas limit",
    "exceeds the block gas limit",
    "gas required exceeds allowance",
    "gas limit reached",
    "intrinsic gas too high",
    "exceeds transaction gas cap",
  ].some((needle) => text.includes(needle));
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof BaseError &&
    Boolean(
      error.walk(
        (e) => e instanceof TransactionReceiptNotFoundError || e instanceof TransactionNotFoundError,
      ),
    )
  );
}

export function describe(error: unknown): string {
  if (error instanceof BaseError) return error.shortMessage;
  return error instanceof Error ? error.message : String(error);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retries a read or an idempotent call on transient failures (network, 5xx, timeouts) with exponential
 * back-off and jitter; a contract revert, or a refusal for size (`isGasCapError`), is an answer, never
 * retried. Bounded: the last error is thrown.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  options: { retries: number; baseMs: number; onRetry?: (error: unknown, attempt: number) => void },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (revertOf(error) || isNotFound(error) || isGasCapError(error) || attempt > options.retries)
        throw error;
      options.onRetry?.(error, attempt);
      const delay = Math.min(options.baseMs * 2 ** (attempt - 1), 30_000);
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}

/**
 * Broadcast errors that mean "the node already has it or already mined its nonce": not failures. Anything
 * else is not fatal either: the confirmation loop rebroadcasts, bumps the fee or resolves from the chain.
 */
export function isBenignBroadcastError(error: unknown): boolean {
  const message = (error instanceof Error ? error.message : String(error)).toLowerCase();
  return [
    "already known",
    "known transaction",
    "already imported",
    "nonce too low",
    "replacement transaction underpriced",
  ].some((needle) => message.includes(needle));
}
