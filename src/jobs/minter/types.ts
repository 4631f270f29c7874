import type { Hex, TransactionReceipt } from "viem";
import type { Config } from "../../config.js";

/** Where the fault tests kill the process (`MINTER_CRASH_AT` in scripts/minter-worker.ts). */
export const CRASH_POINTS = [
  "after-claim",
  "after-sign",
  "after-persist",
  "after-broadcast",
  "confirm-wait",
  "after-receipt",
  "mid-mark",
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export interface MinterConfig {
  batchSize: number;
  leaseSeconds: number;
  confirmations: number;
  pollMs?: number;
  stuckSeconds?: number;
  feeBumpPercent?: number;
  maxFeeBumps?: number;
  maxFeePerGasWei?: bigint;
  confirmTimeoutSeconds?: number;
  rpcRetries?: number;
  retryBaseMs?: number;
  globalBackoffSeconds?: number;
  globalBackoffMaxSeconds?: number;
  /** Most gas one transaction may ask for (never above the block gas limit); default 2^24 (EIP-7825). */
  maxTxGas?: bigint;
  /** Batches in flight at once in a pipelined pass (`runPipeline`); 1 = one at a time. */
  pipelineDepth?: number;
}

/** The minter's settings from the parsed config (MINT_* variables). */
export function minterConfig(config: Readonly<Config>, confirmations: number): MinterConfig {
  return {
    batchSize: config.MINT_BATCH_SIZE,
    leaseSeconds: config.MINT_LEASE_SECONDS,
    confirmations,
    pollMs: config.MINT_POLL_MS,
    stuckSeconds: config.MINT_STUCK_SECONDS,
    feeBumpPercent: config.MINT_FEE_BUMP_PERCENT,
    maxFeeBumps: config.MINT_MAX_FEE_BUMPS,
    maxFeePerGasWei: BigInt(config.MINT_MAX_FEE_GWEI) * 10n ** 9n,
    confirmTimeoutSeconds: config.MINT_CONFIRM_TIMEOUT_SECONDS,
    rpcRetries: config.MINT_RPC_RETRIES,
    retryBaseMs: config.MINT_RETRY_BASE_MS,
    globalBackoffSeconds: config.MINT_GLOBAL_BACKOFF_SECONDS,
    globalBackoffMaxSeconds: config.MINT_GLOBAL_BACKOFF_MAX_SECONDS,
    maxTxGas: BigInt(config.MINT_MAX_TX_GAS),
    pipelineDepth: config.MINT_PIPELINE_DEPTH,
  };
}

/** The settings with every default filled in. */
export type ResolvedMinterConfig = Required<MinterConfig>;

export const MINTER_DEFAULTS: Omit<ResolvedMinterConfig, "batchSize" | "leaseSeconds" | "confirmations"> = {
  pollMs: 1000,
  stuckSeconds: 90,
  feeBumpPercent: 25,
  maxFeeBumps: 5,
  maxFeePerGasWei: 500n * 10n ** 9n,
  confirmTimeoutSeconds: 600,
  rpcRetries: 5,
  retryBaseMs: 500,
  globalBackoffSeconds: 60,
  globalBackoffMaxSeconds: 3600,
  maxTxGas: 16_777_216n,
  pipelineDepth: 3,
};

export interface MintRunResult {
  batchId: string | null;
  /** `waiting`: a batch is still in flight, or the minter backs off after a global revert. */
  status: "empty" | "busy" | "waiting" | "confirmed" | "released" | "failed";
  rewardIds: string[];
  txHash: string | null;
  minted: number;
  skipped: number;
  failed: number;
  /** Claimed rewards put back to `approved` because the transaction would not fit them (gas). */
  deferred?: number;
  /** Claimed rewards put back to `approved` because the period cap has no room left for them. */
  waitingForPeriod?: number;
  error?: string;
}

/** A pipelined pass (`runPipeline`): every batch it claimed, in the order each was finished. */
export interface MintPassResult {
  /** Why the pass ended: `empty` (queue drained), `busy`, or the status of the batch that stopped it. */
  status: MintRunResult["status"];
  /** Batches claimed (or resumed) by the pass. */
  batches: number;
  minted: number;
  skipped: number;
  failed: number;
  results: MintRunResult[];
  error?: string;
}

export type FailureKind = "rpc" | "global" | "item" | "reverted" | "timeout" | "interrupted";

export interface MinterStats {
  batches: number;
  minted: number;
  failures: number;
  failuresByKind: Record<FailureKind, number>;
  feeBumps: number;
  gasUsed: bigint;
  lastSuccessAt: Date | null;
  lastRunAt: Date | null;
  lastError: string | null;
  running: boolean;
  /** Set while the minter backs off after a global revert (paused, period cap): an alert. */
  blockedReason: string | null;
  blockedUntil: Date | null;
  /** Rewards the last run put back because the period cap is reached: they wait for `nextPeriodAt`. */
  waitingForPeriod: number;
  waitingForPeriodWei: bigint;
  nextPeriodAt: Date | null;
  /** Rewards put back (to the next batch) because the transaction would not fit them, in total. */
  deferredForGas: number;
}

export interface ClaimedReward {
  id: bigint;
  order_reference: string;
  order_ref_hash: string;
  wallet_address: string;
  amount_wei: string;
  /** Claims so far, this one included: 1 means never in a batch before. */
  attempts: number;
}

export const REWARD_COLUMNS = [
  "id",
  "order_reference",
  "order_ref_hash",
  "wallet_address",
  "amount_wei",
  "attempts",
] as const;

/** A batch's transaction as signed: replacements keep nonce, gas and data and raise the fees. */
export interface TxPlan {
  batchId: bigint;
  nonce: number;
  gas: bigint;
  data: Hex;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  hashes: Hex[];
  latestRaw: Hex;
  signedAt: number;
  bumps: number;
  /** When the latest transaction was last broadcast (ms); the rebroadcast timer counts from it. */
  lastBroadcastAt?: number;
}

export type Outcome =
  | { kind: "mined"; receipt: TransactionReceipt }
  | { kind: "nonce-spent" }
  | { kind: "timeout" }
  /** The process is shutting down (`drain()`): left signed for the next run's recovery. */
  | { kind: "stopped" };

/** What every result of a batch starts from: its id and the rewards it claimed (or kept). */
export type BatchBase = Pick<MintRunResult, "batchId" | "rewardIds">;

export interface MinterHooks {
  /** Called at each crash point; the fault tests kill the process here. */
  at?(point: CrashPoint, detail: { batchId: bigint }): void;
}

export interface Minter {
  /** One run: recover expired batches, then claim and send one batch. `manual` ignores the back-off. */
  runOnce(options?: { limit?: number; manual?: boolean }): Promise<MintRunResult>;
  /**
   * A pipelined pass: recover expired batches, then claim and send batches with consecutive nonces,
   * at most `depth` (MINT_PIPELINE_DEPTH) in flight, settling each from its receipt in nonce order,
   * until the queue is empty, `maxBatches` were claimed, or a batch does not confirm. Wallet-mode
   * batches are not pipelined.
   */
  runPipeline(options?: { limit?: number; maxBatches?: number; depth?: number }): Promise<MintPassResult>;
  recover(): Promise<{ resolved: number }>;
  /**
   * Shutdown: no new run starts (they answer `busy`), a batch waiting for its receipt stops at its next
   * poll (signed and persisted, lease expired: the next boot's recovery resumes it), and the returned
   * promise settles once the running one has reached that safe point.
   */
  drain(): Promise<void>;
  readonly stats: MinterStats;
}

export const byId = (a: { id: bigint }, b: { id: bigint }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
