import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { sql } from "kysely";
import type { Logger } from "pino";
import {
  type Address,
  encodeFunctionData,
  type Hex,
  keccak256,
  parseEventLogs,
  parseTransaction,
  type TransactionReceipt,
} from "viem";
import { referralRewardsAbi } from "../chain/abi.generated.js";
import type { Chain } from "../chain/index.js";
import type { Config } from "../config.js";
import type { Db } from "../db/connect.js";
import type { MintBatch } from "../db/schema.js";
import { type Actor, audit } from "../ledger/audit.js";
import { postRewardMinted } from "../ledger/journal.js";
import {
  describe,
  GLOBAL_ERRORS,
  ITEM_ERRORS,
  isBenignBroadcastError,
  isNotFound,
  type Revert,
  revertOf,
  sleep,
  withRetry,
} from "./minter-rpc.js";

/**
 * The minter: exactly-once payment of approved rewards. The contract refuses to pay an orderRef twice
 * (at most once); this worker retries until every approved reward is paid (at least once). Steps, as
 * in DESIGN.md: claim with SKIP LOCKED and a lease → one sender per operator key → skip what the chain
 * already paid → simulate (isolating items that revert on their own) → sign and PERSIST the raw tx
 * before broadcast → wait for the receipt (rebroadcasting, and replacing a stuck tx with a higher fee,
 * every signed hash persisted first) → mark rows from the logs. Batches whose run died are resolved
 * from the chain: the receipt of any recorded hash, else `paidOrders` and the `ReferralPaid` logs.
 */

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
  };
}

export interface MintRunResult {
  batchId: string | null;
  /** `waiting`: a batch is still in flight, or the minter backs off after a global revert. */
  status: "empty" | "busy" | "waiting" | "confirmed" | "released" | "failed";
  rewardIds: string[];
  txHash: string | null;
  minted: number;
  skipped: number;
  failed: number;
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
}

interface ClaimedReward {
  id: bigint;
  order_reference: string;
  order_ref_hash: string;
  wallet_address: string;
  amount_wei: string;
}

/** A batch's transaction as signed: replacements keep nonce, gas and data and raise the fees. */
interface TxPlan {
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
}

type Outcome = { kind: "mined"; receipt: TransactionReceipt } | { kind: "nonce-spent" } | { kind: "timeout" };

const ACTOR: Actor = { id: "job:minter" };
// An arbitrary but fixed namespace for the per-operator advisory lock.
const LOCK_NAMESPACE = 7312;
const OPEN: MintBatch["status"][] = ["claimed", "signed"];
const REWARD_COLUMNS = ["id", "order_reference", "order_ref_hash", "wallet_address", "amount_wei"] as const;

export interface MinterHooks {
  /** Called at each crash point; the fault tests kill the process here. */
  at?(point: CrashPoint, detail: { batchId: bigint }): void;
}

export interface Minter {
  /** One run: recover expired batches, then claim and send one batch. `manual` ignores the back-off. */
  runOnce(options?: { limit?: number; manual?: boolean }): Promise<MintRunResult>;
  recover(): Promise<{ resolved: number }>;
  readonly stats: MinterStats;
}

export function createMinter(deps: {
  db: Db;
  dbKind: "postgres" | "pglite";
  chain: Chain;
  config: MinterConfig;
  logger: Logger;
  hooks?: MinterHooks;
}): Minter {
  const { db, chain, logger } = deps;
  const cfg = {
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
    ...deps.config,
  };
  const contract = chain.addresses.referralRewards;
  const operator = chain.operator.toLowerCase();
  const claimedBy = `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  const stats: MinterStats = {
    batches: 0,
    minted: 0,
    failures: 0,
    failuresByKind: { rpc: 0, global: 0, item: 0, reverted: 0, timeout: 0, interrupted: 0 },
    feeBumps: 0,
    gasUsed: 0n,
    lastSuccessAt: null,
    lastRunAt: null,
    lastError: null,
    running: false,
    blockedReason: null,
    blockedUntil: null,
  };
  let consecutiveGlobal = 0;
  let local: Promise<unknown> = Promise.resolve();
  const at = (point: CrashPoint, batchId: bigint) => deps.hooks?.at?.(point, { batchId });
  const lease = () => sql<Date>`now() + make_interval(secs => ${cfg.leaseSeconds})`;

  function fail(kind: FailureKind, message: string) {
    stats.failures++;
    stats.failuresByKind[kind]++;
    stats.lastError = message;
  }

  function rpc<T>(label: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      retries: cfg.rpcRetries,
      baseMs: cfg.retryBaseMs,
      onRetry: (error, attempt) => logger.warn({ call: label, attempt, error: describe(error) }, "RPC retry"),
    });
  }

  /** One sender per operator key: an in-process queue, plus a session advisory lock on Postgres. */
  async function exclusively<T>(busy: T, fn: () => Promise<T>): Promise<T> {
    const previous = local;
    let done!: () => void;
    local = new Promise<void>((resolve) => {
      done = resolve;
    });
    await previous;
    stats.running = true;
    stats.lastRunAt = new Date();
    try {
      if (deps.dbKind === "pglite") return await fn();
      // Keyed by operator, chain, contract and schema: two test schemas sharing a server do not contend.
      const name = `${operator}:${chain.chainId}:${contract.toLowerCase()}`;
      // The lock lives as long as this session. If the server dies meanwhile (restart, failover), the
      // lock dies with it: the unlock below fails, the pool drops the dead client on release (it is no
      // longer queryable), and the next run takes a fresh session and the lock again.
      return await db.connection().execute(async (conn) => {
        const { rows } = await sql<{ locked: boolean }>`
          SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${name} || current_schema())) AS locked`.execute(
          conn,
        );
        if (!rows[0]?.locked) return busy;
        let result: T;
        try {
          result = await fn();
        } catch (error) {
          await unlock(conn, name);
          throw error;
        }
        await unlock(conn, name);
        return result;
      });
    } catch (error) {
      // No session or no lock query (database down): reported, and the caller (cron, admin) sees it.
      stats.lastError = describe(error);
      throw error;
    } finally {
      stats.running = false;
      done();
    }
  }

  /**
   * Never masks the run's outcome. A failed unlock almost always means the session, and its lock, is
   * gone; should the session still be alive, it ends itself, so no pooled connection keeps the lock.
   */
  async function unlock(conn: Db, name: string): Promise<void> {
    try {
      await sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${name} || current_schema()))`.execute(
        conn,
      );
    } catch (error) {
      logger.warn(
        { error: describe(error) },
        "advisory unlock failed; ending the session that held the lock",
      );
      await sql`SELECT pg_terminate_backend(pg_backend_pid())`.execute(conn).catch(() => undefined);
    }
  }

  async function claim(limit: number): Promise<{ batchId: bigint; rewards: ClaimedReward[] } | undefined> {
    return db.transaction().execute(async (trx) => {
      const picked = await trx
        .selectFrom("referral_rewards as r")
        .innerJoin("members as m", "m.member_id", "r.referrer_member_id")
        .select(["r.id", "m.wallet_address"])
        .where("r.status", "=", "approved")
        .where("m.wallet_address", "is not", null)
        .orderBy("r.id")
        .limit(limit)
        .forUpdate("r")
        .skipLocked()
        .execute();
      if (picked.length === 0) return undefined;
      const batch = await trx
        .insertInto("mint_batches")
        .values({
          operator,
          chain_id: chain.chainId,
          lease_expires_at: lease(),
          reward_count: picked.length,
          total_wei: "0",
          claimed_by: claimedBy,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      const rewards: ClaimedReward[] = [];
      for (const row of picked) {
        const updated = await trx
          .updateTable("referral_rewards")
          .set({
            status: "minting",
            batch_id: batch.id,
            wallet_address: row.wallet_address,
            attempts: sql<number>`attempts + 1`,
            updated_at: sql<Date>`now()`,
          })
          .where("id", "=", row.id)
          .where("status", "=", "approved")
          .returning(REWARD_COLUMNS)
          .executeTakeFirstOrThrow();
        rewards.push(updated as ClaimedReward);
      }
      await trx
        .insertInto("mint_batch_rewards")
        .values(rewards.map((reward) => ({ batch_id: batch.id, reward_id: reward.id })))
        .execute();
      const total = rewards.reduce((sum, reward) => sum + BigInt(reward.amount_wei), 0n);
      await trx
        .updateTable("mint_batches")
        .set({ total_wei: total.toString() })
        .where("id", "=", batch.id)
        .execute();
      return { batchId: batch.id, rewards };
    });
  }

  /** The ReferralPaid log of an orderRef: first at the block `paidOrders` packs, else a full scan. */
  async function paidLog(orderRef: Hex, word: bigint) {
    const hinted = (word >> 64n) & 0xffff_ffff_ffff_ffffn;
    const ranges: { fromBlock: bigint; toBlock: bigint | "latest" }[] = [];
    if (hinted >= chain.deployBlock) ranges.push({ fromBlock: hinted, toBlock: hinted });
    ranges.push({ fromBlock: chain.deployBlock, toBlock: "latest" });
    for (const range of ranges) {
      const logs = await rpc("getContractEvents", () =>
        chain.publicClient.getContractEvents({
          address: contract,
          abi: referralRewardsAbi,
          eventName: "ReferralPaid",
          args: { orderRef },
          ...range,
        }),
      );
      if (logs[0]) return logs[0];
    }
    return undefined;
  }

  /** Marks rewards minted from the chain's own record of their payment; returns those still unpaid. */
  async function resolveFromChain(batchId: bigint, rewards: ClaimedReward[]): Promise<ClaimedReward[]> {
    const unpaid: ClaimedReward[] = [];
    for (const reward of rewards) {
      const orderRef = reward.order_ref_hash as Hex;
      const word = await rpc("paidOrders", () =>
        chain.publicClient.readContract({
          address: contract,
          abi: referralRewardsAbi,
          functionName: "paidOrders",
          args: [orderRef],
        }),
      );
      if (word === 0n) {
        unpaid.push(reward);
        continue;
      }
      const log = await paidLog(orderRef, word);
      if (!log) {
        // Paid per storage but no log visible (a lagging node): keep it out of any new transaction.
        throw new Error(`reward ${reward.id} is paid on-chain but its ReferralPaid log is not visible yet`);
      }
      await markMinted(batchId, reward.id, log.transactionHash, log.blockNumber, log.logIndex);
    }
    return unpaid;
  }

  async function markMinted(
    batchId: bigint,
    rewardId: bigint,
    txHash: Hex,
    blockNumber: bigint,
    logIndex: number,
  ) {
    await db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable("referral_rewards")
        .set({
          status: "minted",
          tx_hash: txHash.toLowerCase(),
          block_number: blockNumber,
          log_index: logIndex,
          minted_at: sql<Date>`now()`,
          updated_at: sql<Date>`now()`,
        })
        .where("id", "=", rewardId)
        .where("status", "=", "minting")
        .where("batch_id", "=", batchId)
        .returning("id")
        .executeTakeFirst();
      if (row) {
        await postRewardMinted(trx, rewardId);
        await audit(
          trx,
          ACTOR,
          "reward.minted",
          { type: "reward", id: rewardId },
          { status: "minting" },
          {
            status: "minted",
            txHash,
            blockNumber,
            batchId,
          },
        );
        stats.minted++;
      }
    });
  }

  /** Puts unpaid rewards back to `approved`; `batchStatus` null leaves the batch row as it is. */
  async function release(
    batchId: bigint,
    rewardIds: bigint[],
    reason: string,
    batchStatus: "released" | "failed" | null,
  ) {
    await db.transaction().execute(async (trx) => {
      if (rewardIds.length) {
        const rows = await trx
          .updateTable("referral_rewards")
          .set({ status: "approved", batch_id: null, updated_at: sql<Date>`now()` })
          .where("id", "in", rewardIds)
          .where("status", "=", "minting")
          .where("batch_id", "=", batchId)
          .returning("id")
          .execute();
        for (const row of rows) {
          await audit(
            trx,
            ACTOR,
            "reward.released",
            { type: "reward", id: row.id },
            { status: "minting" },
            { status: "approved", reason },
          );
        }
      }
      if (batchStatus) {
        await trx
          .updateTable("mint_batches")
          .set({ status: batchStatus, error: reason, updated_at: sql<Date>`now()` })
          .where("id", "=", batchId)
          .where("status", "in", OPEN)
          .execute();
      }
    });
  }

  /** `minting → failed`: only for a permanent revert of this one reward. */
  async function failReward(batchId: bigint, rewardId: bigint, reason: string) {
    await db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable("referral_rewards")
        .set({ status: "failed", failure_reason: reason, batch_id: null, updated_at: sql<Date>`now()` })
        .where("id", "=", rewardId)
        .where("status", "=", "minting")
        .where("batch_id", "=", batchId)
        .returning("id")
        .executeTakeFirst();
      if (row) {
        await audit(
          trx,
          ACTOR,
          "reward.failed",
          { type: "reward", id: rewardId },
          { status: "minting" },
          { status: "failed", reason },
        );
      }
    });
    fail("item", reason);
    logger.error({ batchId: batchId.toString(), rewardId: rewardId.toString(), reason }, "reward failed");
  }

  /** Applies a successful receipt: ReferralPaid logs mark rows minted; the rest are resolved from the chain. */
  async function applyReceipt(batchId: bigint, rewards: ClaimedReward[], receipt: TransactionReceipt) {
    const byHash = new Map(rewards.map((reward) => [reward.order_ref_hash.toLowerCase(), reward]));
    const events = parseEventLogs({
      abi: referralRewardsAbi,
      logs: receipt.logs,
      eventName: ["ReferralPaid", "ReferralSkipped"],
    });
    const skipped: ClaimedReward[] = [];
    let minted = 0;
    for (const event of events) {
      if (event.address.toLowerCase() !== contract.toLowerCase()) continue;
      const reward = byHash.get(event.args.orderRef.toLowerCase());
      if (!reward) continue;
      byHash.delete(event.args.orderRef.toLowerCase());
      if (event.eventName === "ReferralPaid") {
        await markMinted(batchId, reward.id, receipt.transactionHash, receipt.blockNumber, event.logIndex);
        if (++minted === 1) at("mid-mark", batchId);
      } else skipped.push(reward);
    }
    // Skipped (paid earlier) or absent from the logs: resolve each from the chain; unpaid go back.
    const unresolved = await resolveFromChain(batchId, [...skipped, ...byHash.values()]);
    const mined = await db
      .selectFrom("mint_batch_txs")
      .select("raw_tx")
      .where("tx_hash", "=", receipt.transactionHash.toLowerCase())
      .executeTakeFirst();
    await db
      .updateTable("mint_batches")
      .set({
        status: "confirmed",
        tx_hash: receipt.transactionHash.toLowerCase(),
        ...(mined ? { raw_tx: mined.raw_tx } : {}),
        block_number: receipt.blockNumber,
        gas_used: receipt.gasUsed.toString(),
        updated_at: sql<Date>`now()`,
      })
      .where("id", "=", batchId)
      .execute();
    if (unresolved.length) {
      await release(
        batchId,
        unresolved.map((reward) => reward.id),
        "not paid by the confirmed batch",
        null,
      );
    }
    stats.gasUsed += receipt.gasUsed;
    stats.lastSuccessAt = new Date();
    clearBackoff();
    return { minted, skipped: skipped.length };
  }

  function payoutsOf(rewards: ClaimedReward[]) {
    return rewards.map((reward) => ({
      orderRef: reward.order_ref_hash as Hex,
      to: reward.wallet_address as Address,
      amount: BigInt(reward.amount_wei),
    }));
  }

  /** eth_call of the batch: undefined when it would succeed, else the revert. RPC failures throw. */
  async function simulate(batchId: bigint, rewards: ClaimedReward[]): Promise<Revert | undefined> {
    try {
      await rpc("simulate", () =>
        chain.publicClient.simulateContract({
          address: contract,
          abi: referralRewardsAbi,
          functionName: "payReferralBatch",
          args: [payoutsOf(rewards), batchId],
          account: chain.operator,
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
  async function bisect(batchId: bigint, rewards: ClaimedReward[]): Promise<ClaimedReward[]> {
    if (!(await simulate(batchId, rewards))) return [];
    if (rewards.length === 1) return rewards;
    const middle = Math.ceil(rewards.length / 2);
    return [
      ...(await bisect(batchId, rewards.slice(0, middle))),
      ...(await bisect(batchId, rewards.slice(middle))),
    ];
  }

  /**
   * Simulates the batch, failing the rewards that revert on their own (named by the revert, or found
   * by bisection) so that the rest proceed. A global revert (paused, cap) is returned, not retried.
   */
  async function simulateAndIsolate(batchId: bigint, rewards: ClaimedReward[]) {
    let remaining = [...rewards].sort(
      (a, b) => a.wallet_address.localeCompare(b.wallet_address) || Number(a.id - b.id),
    );
    let failed = 0;
    while (remaining.length > 0) {
      const revert = await simulate(batchId, remaining);
      if (!revert) return { remaining, failed, globalError: undefined };
      const name = revert.errorName;
      if (name && GLOBAL_ERRORS.has(name)) return { remaining, failed, globalError: name };
      const orderRef = typeof revert.args[0] === "string" ? revert.args[0].toLowerCase() : undefined;
      const named =
        name && ITEM_ERRORS.has(name) && orderRef
          ? remaining.filter((reward) => reward.order_ref_hash.toLowerCase() === orderRef)
          : [];
      const culprits = named.length ? named : await bisect(batchId, remaining);
      // Every item failing alone with an unnamed revert is not an item's fault: treat it as global.
      if (culprits.length === 0 || (culprits.length === remaining.length && remaining.length > 1)) {
        return { remaining, failed, globalError: name ?? revert.message };
      }
      for (const culprit of culprits) {
        await failReward(batchId, culprit.id, `${name ?? "revert"}: ${revert.message}`);
      }
      remaining = remaining.filter((reward) => !culprits.includes(reward));
      failed += culprits.length;
    }
    return { remaining, failed, globalError: undefined };
  }

  function enterBackoff(reason: string) {
    consecutiveGlobal++;
    const seconds = Math.min(
      cfg.globalBackoffSeconds * 2 ** (consecutiveGlobal - 1),
      cfg.globalBackoffMaxSeconds,
    );
    stats.blockedReason = reason;
    stats.blockedUntil = new Date(Date.now() + seconds * 1000);
    fail("global", reason);
    logger.error(
      { alert: "mint_blocked", reason, retryInSeconds: seconds, consecutive: consecutiveGlobal },
      "ALERT: the contract refuses every batch (paused or mint cap reached); minting waits",
    );
  }

  function clearBackoff() {
    if (stats.blockedReason) logger.info({ was: stats.blockedReason }, "minting unblocked");
    consecutiveGlobal = 0;
    stats.blockedReason = null;
    stats.blockedUntil = null;
  }

  /** Signs a transaction of the plan and persists it (batch row + mint_batch_txs) BEFORE any broadcast. */
  async function signAndPersist(plan: Omit<TxPlan, "hashes" | "latestRaw" | "signedAt">): Promise<Hex> {
    const account = chain.walletClient.account;
    const rawTx = await account.signTransaction({
      type: "eip1559",
      chainId: chain.chainId,
      to: contract,
      data: plan.data,
      nonce: plan.nonce,
      gas: plan.gas,
      maxFeePerGas: plan.maxFeePerGas,
      maxPriorityFeePerGas: plan.maxPriorityFeePerGas,
    });
    at("after-sign", plan.batchId);
    const txHash = keccak256(rawTx).toLowerCase();
    await db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable("mint_batches")
        .set({
          status: "signed",
          nonce: BigInt(plan.nonce),
          raw_tx: rawTx,
          tx_hash: txHash,
          fee_bumps: plan.bumps,
          lease_expires_at: lease(),
          updated_at: sql<Date>`now()`,
        })
        .where("id", "=", plan.batchId)
        .where("status", "in", OPEN)
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
    at("after-persist", plan.batchId);
    return rawTx;
  }

  /** Broadcasts; never throws: whether it landed is decided by the chain in the confirmation loop. */
  async function broadcast(batchId: bigint, rawTx: Hex) {
    try {
      await chain.publicClient.sendRawTransaction({ serializedTransaction: rawTx });
    } catch (error) {
      if (!isBenignBroadcastError(error)) {
        logger.warn({ batchId: batchId.toString(), error: describe(error) }, "broadcast failed; will retry");
      }
    }
    await db
      .updateTable("mint_batches")
      .set({ broadcast_at: sql<Date>`now()` })
      .where("id", "=", batchId)
      .execute()
      .catch(() => undefined);
  }

  /** A replacement: same nonce, fees raised by the bump (and at least to today's estimate), capped. */
  async function bumpFee(plan: TxPlan): Promise<boolean> {
    if (plan.bumps >= cfg.maxFeeBumps) return false;
    const factor = BigInt(100 + cfg.feeBumpPercent);
    const estimate = await rpc("estimateFeesPerGas", () => chain.publicClient.estimateFeesPerGas()).catch(
      () => undefined,
    );
    let maxPriorityFeePerGas = (plan.maxPriorityFeePerGas * factor + 99n) / 100n + 1n;
    let maxFeePerGas = (plan.maxFeePerGas * factor + 99n) / 100n + 1n;
    if (estimate && estimate.maxFeePerGas > maxFeePerGas) maxFeePerGas = estimate.maxFeePerGas;
    if (maxFeePerGas > cfg.maxFeePerGasWei) maxFeePerGas = cfg.maxFeePerGasWei;
    if (maxPriorityFeePerGas > maxFeePerGas) maxPriorityFeePerGas = maxFeePerGas;
    // Nodes refuse a replacement below +10% on both fees: at the ceiling there is nothing left to try.
    if (
      maxFeePerGas * 10n < plan.maxFeePerGas * 11n ||
      maxPriorityFeePerGas * 10n < plan.maxPriorityFeePerGas * 11n
    ) {
      stats.lastError = `batch ${plan.batchId}: fee ceiling MINT_MAX_FEE_GWEI reached, transaction stuck`;
      logger.error({ alert: "mint_fee_ceiling", batchId: plan.batchId.toString() }, stats.lastError);
      plan.bumps = cfg.maxFeeBumps;
      return false;
    }
    const next = { ...plan, maxFeePerGas, maxPriorityFeePerGas, bumps: plan.bumps + 1 };
    const rawTx = await signAndPersist(next);
    Object.assign(plan, next, {
      latestRaw: rawTx,
      hashes: [...plan.hashes, keccak256(rawTx)],
      signedAt: Date.now(),
    });
    stats.feeBumps++;
    logger.warn(
      { batchId: plan.batchId.toString(), bumps: plan.bumps, maxFeePerGas: maxFeePerGas.toString() },
      "transaction stuck: replaced with a higher fee",
    );
    await broadcast(plan.batchId, rawTx);
    return true;
  }

  /**
   * Waits until one of the batch's transactions is mined with enough confirmations, or its nonce is used
   * by some other transaction, or the timeout passes. Rebroadcasts (a node may drop it) and replaces a
   * stuck transaction with a higher fee. The nonce is read BEFORE the receipts: when it is spent and
   * none of our hashes has a receipt, the answer is final.
   */
  async function drive(
    plan: TxPlan,
    options: { rebroadcastNow: boolean; timeoutSeconds?: number },
  ): Promise<Outcome> {
    const deadline = Date.now() + (options.timeoutSeconds ?? cfg.confirmTimeoutSeconds) * 1000;
    const rebroadcastMs = Math.max(1000, (cfg.stuckSeconds * 1000) / 3);
    let lastBroadcast = options.rebroadcastNow ? 0 : Date.now();
    let lastLease = Date.now();
    for (;;) {
      try {
        const spent = await rpc("getTransactionCount", () =>
          chain.publicClient.getTransactionCount({ address: chain.operator, blockTag: "latest" }),
        );
        let receipt: TransactionReceipt | undefined;
        for (const hash of [...plan.hashes].reverse()) {
          receipt = await rpc("getTransactionReceipt", () =>
            chain.publicClient.getTransactionReceipt({ hash }),
          ).catch((error) => {
            if (isNotFound(error)) return undefined;
            throw error;
          });
          if (receipt) break;
        }
        if (receipt) {
          // Mined, confirmations not yet counted: the "during the confirmation wait" crash point.
          at("confirm-wait", plan.batchId);
          const tip = await rpc("getBlockNumber", () => chain.publicClient.getBlockNumber({ cacheTime: 0 }));
          if (tip - receipt.blockNumber + 1n >= BigInt(cfg.confirmations)) return { kind: "mined", receipt };
        } else if (spent > plan.nonce) {
          return { kind: "nonce-spent" };
        } else if (Date.now() - plan.signedAt >= cfg.stuckSeconds * 1000 && (await bumpFee(plan))) {
          lastBroadcast = Date.now();
        } else if (Date.now() - lastBroadcast >= rebroadcastMs) {
          await broadcast(plan.batchId, plan.latestRaw);
          lastBroadcast = Date.now();
        }
      } catch (error) {
        // Transient RPC trouble past the retries: keep waiting until the deadline.
        fail("rpc", describe(error));
        logger.warn(
          { batchId: plan.batchId.toString(), error: describe(error) },
          "confirmation check failed",
        );
      }
      if (Date.now() > deadline) return { kind: "timeout" };
      if (Date.now() - lastLease >= (cfg.leaseSeconds * 1000) / 3) {
        await db
          .updateTable("mint_batches")
          .set({ lease_expires_at: lease() })
          .where("id", "=", plan.batchId)
          .where("status", "in", OPEN)
          .execute();
        lastLease = Date.now();
      }
      await sleep(cfg.pollMs);
    }
  }

  /** Turns the outcome of the confirmation loop into row updates. */
  async function settle(
    batchId: bigint,
    rewards: ClaimedReward[],
    outcome: Outcome,
    base: Pick<MintRunResult, "batchId" | "rewardIds">,
  ): Promise<MintRunResult> {
    const none = { minted: 0, skipped: 0, failed: 0 };
    if (outcome.kind === "timeout") {
      // Left signed with its lease expired: the next run's recovery picks it up where this one stopped.
      await db
        .updateTable("mint_batches")
        .set({ lease_expires_at: sql<Date>`now()`, updated_at: sql<Date>`now()` })
        .where("id", "=", batchId)
        .execute();
      const error = `not confirmed within ${cfg.confirmTimeoutSeconds}s; the next run resumes it`;
      fail("timeout", error);
      logger.error({ alert: "mint_tx_unconfirmed", batchId: base.batchId }, error);
      return { ...base, status: "waiting", txHash: null, ...none, error };
    }
    if (outcome.kind === "nonce-spent") {
      // Another transaction took the nonce: ours can never be mined. What the chain paid is marked.
      const unpaid = await resolveFromChain(batchId, rewards);
      await release(
        batchId,
        unpaid.map((reward) => reward.id),
        "nonce used by another transaction",
        "released",
      );
      return { ...base, status: "released", txHash: null, ...none, skipped: rewards.length - unpaid.length };
    }
    const { receipt } = outcome;
    at("after-receipt", batchId);
    if (receipt.status !== "success") {
      // Reverted on-chain (state changed after the simulation): classify by simulating again.
      await db
        .updateTable("mint_batches")
        .set({ block_number: receipt.blockNumber, gas_used: receipt.gasUsed.toString() })
        .where("id", "=", batchId)
        .execute();
      stats.gasUsed += receipt.gasUsed;
      const again = await simulateAndIsolate(batchId, rewards).catch(() => undefined);
      if (again?.globalError) enterBackoff(again.globalError);
      else fail("reverted", "transaction reverted");
      const left = await db
        .selectFrom("referral_rewards")
        .select("id")
        .where("batch_id", "=", batchId)
        .where("status", "=", "minting")
        .execute();
      await release(
        batchId,
        left.map((row) => row.id),
        again?.globalError ?? "transaction reverted",
        "failed",
      );
      return {
        ...base,
        status: "failed",
        txHash: receipt.transactionHash,
        ...none,
        failed: again?.failed ?? 0,
        error: again?.globalError ?? "transaction reverted",
      };
    }
    const applied = await applyReceipt(batchId, rewards, receipt);
    stats.lastError = null;
    logger.info(
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

  async function mintingRewards(batchId: bigint): Promise<ClaimedReward[]> {
    return (await db
      .selectFrom("referral_rewards")
      .select(REWARD_COLUMNS)
      .where("batch_id", "=", batchId)
      .where("status", "=", "minting")
      .orderBy("id")
      .execute()) as ClaimedReward[];
  }

  async function mintBatch(limit: number): Promise<MintRunResult> {
    const empty = { batchId: null, rewardIds: [], txHash: null, minted: 0, skipped: 0, failed: 0 };
    // One batch in flight per operator key: a batch still open (its lease live) keeps its nonce.
    const open = await db
      .selectFrom("mint_batches")
      .select("id")
      .where("status", "in", OPEN)
      .where("operator", "=", operator)
      .executeTakeFirst();
    if (open)
      return { ...empty, batchId: open.id.toString(), status: "waiting", error: "a batch is in flight" };

    const claimed = await claim(limit);
    if (!claimed) return { ...empty, status: "empty" };
    const { batchId } = claimed;
    const base = {
      batchId: batchId.toString(),
      rewardIds: claimed.rewards.map((reward) => reward.id.toString()),
    };
    stats.batches++;
    at("after-claim", batchId);

    let plan: TxPlan;
    let remaining: ClaimedReward[];
    let alreadyPaid = 0;
    let failed = 0;
    try {
      // Step 3: what the chain already paid (a crash after broadcast, another instance) is not paid again.
      const unpaid = await resolveFromChain(batchId, claimed.rewards);
      alreadyPaid = claimed.rewards.length - unpaid.length;
      const simulated = await simulateAndIsolate(batchId, unpaid);
      failed = simulated.failed;
      remaining = simulated.remaining;
      if (simulated.globalError) {
        await release(
          batchId,
          remaining.map((reward) => reward.id),
          simulated.globalError,
          "released",
        );
        enterBackoff(simulated.globalError);
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed,
          error: simulated.globalError,
        };
      }
      if (remaining.length === 0) {
        await release(batchId, [], "nothing left to send", "released");
        if (alreadyPaid > 0) clearBackoff();
        return { ...base, status: "released", txHash: null, minted: 0, skipped: alreadyPaid, failed };
      }
      clearBackoff();
      // Step 4: nonce, fees and gas; then sign, persist nonce + raw tx + hash, only then broadcast.
      const data = encodeFunctionData({
        abi: referralRewardsAbi,
        functionName: "payReferralBatch",
        args: [payoutsOf(remaining), batchId],
      });
      const [nonce, fees, gas] = await Promise.all([
        rpc("getTransactionCount", () =>
          chain.publicClient.getTransactionCount({ address: chain.operator, blockTag: "pending" }),
        ),
        rpc("estimateFeesPerGas", () => chain.publicClient.estimateFeesPerGas()),
        rpc("estimateGas", () =>
          chain.publicClient.estimateGas({ account: chain.operator, to: contract, data }),
        ),
      ]);
      const maxFeePerGas = fees.maxFeePerGas > cfg.maxFeePerGasWei ? cfg.maxFeePerGasWei : fees.maxFeePerGas;
      const maxPriorityFeePerGas =
        fees.maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : fees.maxPriorityFeePerGas;
      plan = {
        batchId,
        nonce,
        // Headroom: the state may move between the estimate and inclusion (a new holder costs more).
        gas: (gas * 12n) / 10n + 10_000n,
        data,
        maxFeePerGas,
        maxPriorityFeePerGas,
        hashes: [],
        latestRaw: "0x",
        signedAt: 0,
        bumps: 0,
      };
    } catch (error) {
      // Nothing was signed: every reward of the batch goes straight back to `approved`.
      const message = describe(error);
      const left = await mintingRewards(batchId);
      await release(
        batchId,
        left.map((reward) => reward.id),
        `before signing: ${message}`,
        "released",
      );
      fail("rpc", message);
      logger.error({ batchId: base.batchId, error: message }, "mint batch released before signing");
      return {
        ...base,
        status: "failed",
        txHash: null,
        minted: 0,
        skipped: alreadyPaid,
        failed,
        error: message,
      };
    }

    try {
      const rawTx = await signAndPersist(plan);
      plan.latestRaw = rawTx;
      plan.hashes = [keccak256(rawTx)];
      plan.signedAt = Date.now();
      await broadcast(batchId, rawTx);
      at("after-broadcast", batchId);
      // Step 5: receipt with CHAIN_CONFIRMATIONS, then the logs decide which rows are minted.
      const outcome = await drive(plan, { rebroadcastNow: false });
      const result = await settle(batchId, remaining, outcome, base);
      return { ...result, skipped: result.skipped + alreadyPaid, failed: result.failed + failed };
    } catch (error) {
      // Possibly signed and sent: never release blindly. Expire the lease; recovery asks the chain.
      const message = describe(error);
      await db
        .updateTable("mint_batches")
        .set({ lease_expires_at: sql<Date>`now()`, error: message })
        .where("id", "=", batchId)
        .where("status", "in", OPEN)
        .execute()
        .catch(() => undefined);
      fail("interrupted", message);
      logger.error(
        { batchId: base.batchId, err: error },
        "mint batch interrupted; recovery resolves it from the chain",
      );
      return {
        ...base,
        status: "failed",
        txHash: null,
        minted: 0,
        skipped: alreadyPaid,
        failed,
        error: message,
      };
    }
  }

  /** Resolves one batch whose run is gone: resumes its transaction, or asks the chain what was paid. */
  async function resolveBatch(batch: MintBatch, waitSeconds: number): Promise<MintRunResult> {
    const rewards = await mintingRewards(batch.id);
    const base = { batchId: batch.id.toString(), rewardIds: rewards.map((reward) => reward.id.toString()) };
    await db
      .updateTable("mint_batches")
      .set({ lease_expires_at: lease() })
      .where("id", "=", batch.id)
      .execute();
    const txs = await db
      .selectFrom("mint_batch_txs")
      .selectAll()
      .where("batch_id", "=", batch.id)
      .orderBy("created_at")
      .orderBy("max_fee_per_gas")
      .execute();
    const latest = txs.at(-1);
    if (!latest) {
      // Never signed or never persisted, so never broadcast by us: the chain says what others paid.
      const unpaid = await resolveFromChain(batch.id, rewards);
      await release(
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
    };
    logger.warn({ batchId: base.batchId, hashes: plan.hashes.length }, "recovering a batch from the chain");
    const outcome = await drive(plan, { rebroadcastNow: true, timeoutSeconds: waitSeconds });
    return settle(batch.id, rewards, outcome, base);
  }

  /** `waitSeconds` bounds the wait for a resumed transaction (short at boot, so startup is not held up). */
  async function recover(waitSeconds: number): Promise<{ resolved: number }> {
    const stale = await db
      .selectFrom("mint_batches")
      .selectAll()
      .where("status", "in", OPEN)
      .where("operator", "=", operator)
      .where("lease_expires_at", "<", sql<Date>`now()`)
      .orderBy("id")
      .execute();
    let resolved = 0;
    for (const batch of stale) {
      const result = await resolveBatch(batch, waitSeconds);
      if (result.status !== "waiting") resolved++;
    }
    return { resolved };
  }

  const busy: MintRunResult = {
    batchId: null,
    status: "busy",
    rewardIds: [],
    txHash: null,
    minted: 0,
    skipped: 0,
    failed: 0,
  };

  return {
    stats,
    recover: () => exclusively({ resolved: 0 }, () => recover(Math.min(cfg.confirmTimeoutSeconds, 15))),
    runOnce: (options = {}) =>
      exclusively<MintRunResult>(busy, async () => {
        if (!options.manual && stats.blockedUntil && stats.blockedUntil > new Date()) {
          return { ...busy, status: "waiting", error: `backing off: ${stats.blockedReason}` };
        }
        try {
          await recover(cfg.confirmTimeoutSeconds);
          return await mintBatch(Math.min(options.limit ?? cfg.batchSize, 200));
        } catch (error) {
          // A database or chain failure outside a batch: reported, never thrown halfway.
          fail("interrupted", describe(error));
          logger.error({ err: error }, "mint run failed");
          return { ...busy, status: "failed", error: describe(error) };
        }
      }),
  };
}
