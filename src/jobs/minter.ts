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
import type { Db, DbOrTx } from "../db/connect.js";
import type { MintBatch } from "../db/schema.js";
import { type Actor, audit, auditRow } from "../ledger/audit.js";
import { accounts, journalRows, postRewardMinted, WEI } from "../ledger/journal.js";
import { reapplyRefundsOnRelease } from "../ledger/release-rewards.js";
import {
  describe,
  GLOBAL_ERRORS,
  ITEM_ERRORS,
  isBenignBroadcastError,
  isGasCapError,
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
  /** Most gas one transaction may ask for (never above the block gas limit); default 2^24 (EIP-7825). */
  maxTxGas?: bigint;
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
  /** Claimed rewards put back to `approved` because the transaction would not fit them (gas). */
  deferred?: number;
  /** Claimed rewards put back to `approved` because the period cap has no room left for them. */
  waitingForPeriod?: number;
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

interface ClaimedReward {
  id: bigint;
  order_reference: string;
  order_ref_hash: string;
  wallet_address: string;
  amount_wei: string;
  /** Claims so far, this one included: 1 means never in a batch before. */
  attempts: number;
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
const REWARD_COLUMNS = [
  "id",
  "order_reference",
  "order_ref_hash",
  "wallet_address",
  "amount_wei",
  "attempts",
] as const;
/**
 * Gas a batch needs at most: the fixed part (21,000 intrinsic and ~32k of cold accesses) and a payout to
 * a new holder (~52k with its calldata; docs/contracts.md, "Gas"), rounded up. Checked before use.
 */
const GAS_BOUND = { fixed: 60_000n, perPayout: 60_000n };
/** `paidOrders` reads in flight at once when a batch is checked against the chain. */
const PAID_READS = 25;
const byId = (a: { id: bigint }, b: { id: bigint }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

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
    maxTxGas: 16_777_216n,
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
    waitingForPeriod: 0,
    waitingForPeriodWei: 0n,
    nextPeriodAt: null,
    deferredForGas: 0,
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
  async function unlock(conn: DbOrTx, name: string): Promise<void> {
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
      // One statement for the whole batch: the rows are locked above, each takes its referrer's wallet.
      const rewards = (
        (await trx
          .updateTable("referral_rewards as r")
          .from("members as m")
          .set({
            status: "minting",
            batch_id: batch.id,
            wallet_address: sql<string>`m.wallet_address`,
            attempts: sql<number>`r.attempts + 1`,
            updated_at: sql<Date>`now()`,
          })
          .whereRef("m.member_id", "=", "r.referrer_member_id")
          .where(
            "r.id",
            "in",
            picked.map((row) => row.id),
          )
          .where("r.status", "=", "approved")
          .returning(REWARD_COLUMNS.map((column) => `r.${column}` as const))
          .execute()) as ClaimedReward[]
      ).sort(byId);
      if (rewards.length !== picked.length) throw new Error("claimed rows changed under their lock");
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
    // The storage reads go out PAID_READS at a time (one round trip each, no multicall contract needed).
    const words: bigint[] = [];
    for (let from = 0; from < rewards.length; from += PAID_READS) {
      const chunk = rewards.slice(from, from + PAID_READS);
      words.push(
        ...(await Promise.all(
          chunk.map((reward) =>
            rpc("paidOrders", () =>
              chain.publicClient.readContract({
                address: contract,
                abi: referralRewardsAbi,
                functionName: "paidOrders",
                args: [reward.order_ref_hash as Hex],
              }),
            ),
          ),
        )),
      );
    }
    for (const [index, reward] of rewards.entries()) {
      const orderRef = reward.order_ref_hash as Hex;
      const word = words[index]!;
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

  /**
   * Marks the rewards a receipt paid minted, in ONE transaction for the whole receipt: one UPDATE, the
   * `reward.minted` journal (liability → supply, one journal transaction per reward) and the audit
   * entries as multi-row inserts. The "mid-mark" crash point is inside it: a kill there rolls every
   * row back, and recovery marks them from the chain.
   */
  async function markMintedFromReceipt(
    batchId: bigint,
    receipt: TransactionReceipt,
    paid: { id: bigint; logIndex: number }[],
  ): Promise<number> {
    if (paid.length === 0) return 0;
    const txHash = receipt.transactionHash.toLowerCase();
    const logIndexes = JSON.stringify(
      Object.fromEntries(paid.map((item) => [item.id.toString(), item.logIndex])),
    );
    const count = await db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable("referral_rewards")
        .set({
          status: "minted",
          tx_hash: txHash,
          block_number: receipt.blockNumber,
          log_index: sql<number>`(${logIndexes}::jsonb ->> id::text)::int`,
          minted_at: sql<Date>`now()`,
          updated_at: sql<Date>`now()`,
        })
        .where(
          "id",
          "in",
          paid.map((item) => item.id),
        )
        .where("status", "=", "minting")
        .where("batch_id", "=", batchId)
        .returning(["id", "order_reference", "referrer_member_id", "amount_wei"])
        .execute();
      at("mid-mark", batchId);
      if (rows.length === 0) return 0;
      const journal = rows.flatMap((row) =>
        journalRows({
          event: "reward.minted",
          orderReference: row.order_reference,
          postings: [
            {
              account: accounts.rewardLiability(row.referrer_member_id),
              asset: WEI,
              amount: BigInt(row.amount_wei),
            },
            { account: accounts.mintedSupply, asset: WEI, amount: -BigInt(row.amount_wei) },
          ],
        }),
      );
      if (journal.length) await trx.insertInto("journal_entries").values(journal).execute();
      await trx
        .insertInto("audit_log")
        .values(
          rows.map((row) =>
            auditRow(
              ACTOR,
              "reward.minted",
              { type: "reward", id: row.id },
              { status: "minting" },
              {
                status: "minted",
                txHash: receipt.transactionHash,
                blockNumber: receipt.blockNumber,
                batchId,
              },
            ),
          ),
        )
        .execute();
      return rows.length;
    });
    stats.minted += count;
    return count;
  }

  /**
   * Puts unpaid rewards back to `approved` (`minting → approved`), in one transaction with any `more`
   * groups (each with its own reason); `batchStatus` null leaves the batch row as it is. A refund booked
   * while a reward was in flight is applied to the reward itself here (`reapplyRefundsOnRelease`: it
   * comes back reduced to what the order still entitles, or cancelled). `trim`: the batch is not signed
   * yet and keeps only the rewards still `minting` (count, total and its reward list follow).
   */
  async function release(
    batchId: bigint,
    rewardIds: bigint[],
    reason: string,
    batchStatus: "released" | "failed" | null,
    options: { more?: { ids: bigint[]; reason: string }[]; trim?: boolean } = {},
  ) {
    const groups = [{ ids: rewardIds, reason }, ...(options.more ?? [])].filter((group) => group.ids.length);
    await db.transaction().execute(async (trx) => {
      const released: bigint[] = [];
      for (const group of groups) {
        const rows = await trx
          .updateTable("referral_rewards")
          .set({ status: "approved", batch_id: null, updated_at: sql<Date>`now()` })
          .where("id", "in", group.ids)
          .where("status", "=", "minting")
          .where("batch_id", "=", batchId)
          .returning("id")
          .execute();
        for (const row of rows) {
          released.push(row.id);
          await audit(
            trx,
            ACTOR,
            "reward.released",
            { type: "reward", id: row.id },
            { status: "minting", batchId },
            { status: "approved", reason: group.reason },
          );
        }
      }
      if (released.length) {
        for (const change of await reapplyRefundsOnRelease(trx, ACTOR, released, { batchId })) {
          logger.info(
            {
              batchId: batchId.toString(),
              rewardId: change.rewardId.toString(),
              action: change.action,
              amountWei: change.amountWei.toString(),
              undoneDebtWei: change.undoneDebtWei.toString(),
              shortfallWei: change.shortfallWei.toString(),
            },
            "refund while minting applied to the released reward",
          );
        }
      }
      if (options.trim && released.length) {
        await trx
          .deleteFrom("mint_batch_rewards")
          .where("batch_id", "=", batchId)
          .where("reward_id", "in", released)
          .execute();
        const kept = await trx
          .selectFrom("referral_rewards")
          .select([
            sql<string>`count(*)::text`.as("n"),
            sql<string>`coalesce(sum(amount_wei), 0)::text`.as("total"),
          ])
          .where("batch_id", "=", batchId)
          .where("status", "=", "minting")
          .executeTakeFirstOrThrow();
        await trx
          .updateTable("mint_batches")
          .set({ reward_count: Number(kept.n), total_wei: kept.total, updated_at: sql<Date>`now()` })
          .where("id", "=", batchId)
          .where("status", "in", OPEN)
          .execute();
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
    const paid: { id: bigint; logIndex: number }[] = [];
    for (const event of events) {
      if (event.address.toLowerCase() !== contract.toLowerCase()) continue;
      const reward = byHash.get(event.args.orderRef.toLowerCase());
      if (!reward) continue;
      byHash.delete(event.args.orderRef.toLowerCase());
      if (event.eventName === "ReferralPaid") paid.push({ id: reward.id, logIndex: event.logIndex });
      else skipped.push(reward);
    }
    const minted = await markMintedFromReceipt(batchId, receipt, paid);
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
    let remaining = sortForBatch(rewards);
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

  /** Recipient order (the contract mints a run of one recipient once), then id. */
  function sortForBatch(rewards: ClaimedReward[]): ClaimedReward[] {
    return [...rewards].sort(
      (a, b) => a.wallet_address.localeCompare(b.wallet_address) || Number(a.id - b.id),
    );
  }

  function encodeBatch(batchId: bigint, rewards: ClaimedReward[]): Hex {
    return encodeFunctionData({
      abi: referralRewardsAbi,
      functionName: "payReferralBatch",
      args: [payoutsOf(rewards), batchId],
    });
  }

  /** The gas a transaction is signed with: the estimate plus headroom (state may move before inclusion). */
  const withHeadroom = (gas: bigint) => (gas * 12n) / 10n + 10_000n;

  let blockGasLimit: { value: bigint; at: number } | undefined;
  /** The most gas one transaction may ask for: MINT_MAX_TX_GAS, never above the block gas limit. */
  async function maxTxGas(): Promise<bigint> {
    if (!blockGasLimit || Date.now() - blockGasLimit.at > 60_000) {
      const block = await rpc("getBlock", () => chain.publicClient.getBlock({ blockTag: "latest" }));
      blockGasLimit = { value: block.gasLimit, at: Date.now() };
    }
    return blockGasLimit.value < cfg.maxTxGas ? blockGasLimit.value : cfg.maxTxGas;
  }

  /**
   * Gas for a batch of `rewards` (in batch order): the node's estimate. When the node refuses to estimate
   * for size (`isGasCapError`: Hardhat's estimator probes at about 3x the gas used and trips the 2^24
   * per-transaction cap from ~105 new recipients on, although 200 need only ~10.4M), the sum of its two
   * halves' estimates less one intrinsic 21,000 — an upper bound: the halves each pay the fixed cold
   * accesses and split a recipient run in two. `undefined`: not even one payout can be estimated.
   */
  async function estimateBatchGas(batchId: bigint, rewards: ClaimedReward[]): Promise<bigint | undefined> {
    const data = encodeBatch(batchId, rewards);
    try {
      return await rpc("estimateGas", () =>
        chain.publicClient.estimateGas({ account: chain.operator, to: contract, data }),
      );
    } catch (error) {
      if (!isGasCapError(error)) throw error;
      if (rewards.length === 1) return undefined;
      const middle = Math.ceil(rewards.length / 2);
      const head = await estimateBatchGas(batchId, rewards.slice(0, middle));
      if (head === undefined) return undefined;
      const tail = await estimateBatchGas(batchId, rewards.slice(middle));
      if (tail === undefined) return undefined;
      return head + tail - 21_000n;
    }
  }

  /**
   * Whether the batch runs within `gas` (one eth_call with that gas limit): the cheap check of the
   * gas bound. Any failure (out of gas, refused) is a no; the caller then asks `estimateGas`.
   */
  async function runsWithin(batchId: bigint, rewards: ClaimedReward[], gas: bigint): Promise<boolean> {
    try {
      await chain.publicClient.call({
        account: chain.operator,
        to: contract,
        data: encodeBatch(batchId, rewards),
        gas,
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sizes the batch by gas: the largest prefix, oldest reward first, whose transaction fits
   * `maxTxGas()`. The gas is first the bound `GAS_BOUND` (plus headroom) checked by one eth_call at
   * that limit — one execution, where Hardhat's estimator runs the batch a dozen times (~0.7 s for 100
   * payouts) — and otherwise the node's estimate plus headroom. A reward that does not fit even alone fails with the reason (and an
   * alert); the rest proceed. Returns the rewards to send (batch order), their gas and what waits.
   */
  async function fitToGas(batchId: bigint, rewards: ClaimedReward[]) {
    const cap = await maxTxGas();
    let queue = [...rewards].sort(byId);
    let failed = 0;
    let count = queue.length;
    while (queue.length > 0) {
      const candidate = sortForBatch(queue.slice(0, count));
      const bound = withHeadroom(GAS_BOUND.fixed + BigInt(candidate.length) * GAS_BOUND.perPayout);
      if (bound <= cap && (await runsWithin(batchId, candidate, bound))) {
        return { send: candidate, gas: bound, rest: queue.slice(count), failed };
      }
      const estimate = await estimateBatchGas(batchId, candidate);
      const gas = estimate === undefined ? undefined : withHeadroom(estimate);
      if (gas !== undefined && gas <= cap) {
        return { send: candidate, gas, rest: queue.slice(count), failed };
      }
      if (count > 1) {
        // Proportional when the gas is known (a little less each time), else halve.
        const scaled = gas === undefined ? count / 2 : Number((BigInt(count) * cap) / gas);
        count = Math.max(1, Math.min(count - 1, Math.floor(scaled)));
        continue;
      }
      const alone = queue[0]!;
      const reason = `ExceedsTransactionGas: one payout needs ${gas ?? "more than the node will estimate"} gas, the transaction cap is ${cap} (MINT_MAX_TX_GAS / block gas limit)`;
      logger.error(
        { alert: "mint_payout_exceeds_gas_cap", batchId: batchId.toString(), rewardId: alone.id.toString() },
        reason,
      );
      await failReward(batchId, alone.id, reason);
      failed++;
      queue = queue.slice(1);
      count = queue.length;
    }
    return { send: [], gas: 0n, rest: [], failed };
  }

  /**
   * Fits the batch to what the period cap has left (read from the contract): the largest prefix, oldest
   * reward first, whose total fits; the rest wait for the next period.
   */
  async function fitToPeriod(rewards: ClaimedReward[]) {
    const ordered = [...rewards].sort(byId);
    if (ordered.length === 0) return { send: ordered, wait: ordered, leftWei: 0n };
    const leftWei = await rpc("remainingInCurrentPeriod", () =>
      chain.publicClient.readContract({
        address: contract,
        abi: referralRewardsAbi,
        functionName: "remainingInCurrentPeriod",
      }),
    );
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
  async function noteWaitingForPeriod(wait: ClaimedReward[], leftWei: bigint) {
    stats.waitingForPeriod = wait.length;
    stats.waitingForPeriodWei = wait.reduce((sum, reward) => sum + BigInt(reward.amount_wei), 0n);
    stats.nextPeriodAt = null;
    if (wait.length === 0) return;
    const length = await rpc("periodLength", () =>
      chain.publicClient.readContract({
        address: contract,
        abi: referralRewardsAbi,
        functionName: "periodLength",
      }),
    ).catch(() => undefined);
    if (length) {
      const now = BigInt(Math.floor(Date.now() / 1000));
      stats.nextPeriodAt = new Date(Number((now / length + 1n) * length) * 1000);
    }
    logger.warn(
      {
        waitingForPeriod: wait.length,
        waitingForPeriodWei: stats.waitingForPeriodWei.toString(),
        remainingInPeriodWei: leftWei.toString(),
        nextPeriodAt: stats.nextPeriodAt?.toISOString() ?? null,
      },
      "period mint cap reached: rewards wait for the next period",
    );
  }

  function enterBackoff(reason: string, until?: Date | null) {
    consecutiveGlobal++;
    let seconds = Math.min(
      cfg.globalBackoffSeconds * 2 ** (consecutiveGlobal - 1),
      cfg.globalBackoffMaxSeconds,
    );
    // Waiting for the period cap past the next period is pointless: it resets then.
    if (until) seconds = Math.max(1, Math.min(seconds, Math.ceil((until.getTime() - Date.now()) / 1000)));
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
    let deferred = 0;
    let waitingForPeriod = 0;
    try {
      // Step 3: what the chain already paid (a crash after broadcast, another instance) is not paid again.
      // A reward claimed for the first time was never in a transaction of ours: nothing to look up (were
      // it paid by anything else, the contract skips it and the receipt's check resolves it from its log).
      const seen = claimed.rewards.filter((reward) => reward.attempts > 1);
      const unpaid = [
        ...claimed.rewards.filter((reward) => reward.attempts <= 1),
        ...(await resolveFromChain(batchId, seen)),
      ];
      alreadyPaid = claimed.rewards.length - unpaid.length;
      // Step 3b: fit the period cap (read from the contract); what does not fit waits for the next period.
      const period = await fitToPeriod(unpaid);
      waitingForPeriod = period.wait.length;
      await noteWaitingForPeriod(period.wait, period.leftWei);
      const waitGroup = { ids: period.wait.map((reward) => reward.id), reason: "PeriodCapExceeded" };
      if (period.send.length === 0 && period.wait.length > 0) {
        // Nothing fits the period's remaining allowance: the one case of a cap back-off.
        await release(batchId, waitGroup.ids, "PeriodCapExceeded", "released");
        enterBackoff("PeriodCapExceeded", stats.nextPeriodAt);
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed,
          waitingForPeriod,
          error: "PeriodCapExceeded",
        };
      }
      const simulated = await simulateAndIsolate(batchId, period.send);
      failed = simulated.failed;
      remaining = simulated.remaining;
      if (simulated.globalError) {
        await release(
          batchId,
          remaining.map((reward) => reward.id),
          simulated.globalError,
          "released",
          { more: [waitGroup] },
        );
        enterBackoff(simulated.globalError);
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed,
          waitingForPeriod,
          error: simulated.globalError,
        };
      }
      // Step 3c: size by gas — the largest prefix whose transaction fits; the rest go to the next batch.
      const fitted = await fitToGas(batchId, remaining);
      failed += fitted.failed;
      remaining = fitted.send;
      deferred = fitted.rest.length;
      if (remaining.length === 0) {
        await release(batchId, [], "nothing left to send", "released", {
          more: [
            waitGroup,
            { ids: fitted.rest.map((reward) => reward.id), reason: "does not fit the transaction" },
          ],
        });
        if (alreadyPaid > 0) clearBackoff();
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed,
          ...(deferred ? { deferred } : {}),
          ...(waitingForPeriod ? { waitingForPeriod } : {}),
        };
      }
      if (fitted.rest.length || period.wait.length) {
        // Released in one step before anything is signed: the batch keeps only what it will send.
        await release(batchId, waitGroup.ids, "PeriodCapExceeded", null, {
          more: [{ ids: fitted.rest.map((reward) => reward.id), reason: "does not fit the transaction" }],
          trim: true,
        });
        const trimmed = new Set([...period.wait, ...fitted.rest].map((reward) => reward.id.toString()));
        base.rewardIds = base.rewardIds.filter((id) => !trimmed.has(id));
        if (deferred) {
          stats.deferredForGas += deferred;
          logger.info(
            { batchId: base.batchId, sending: remaining.length, deferred, gas: fitted.gas.toString() },
            "mint batch cut to what fits one transaction; the rest go to the next batch",
          );
        }
      }
      clearBackoff();
      // Step 4: nonce and fees (gas from step 3c); then sign, persist nonce + raw tx + hash, only then broadcast.
      const data = encodeBatch(batchId, remaining);
      const [nonce, fees] = await Promise.all([
        rpc("getTransactionCount", () =>
          chain.publicClient.getTransactionCount({ address: chain.operator, blockTag: "pending" }),
        ),
        rpc("estimateFeesPerGas", () => chain.publicClient.estimateFeesPerGas()),
      ]);
      const maxFeePerGas = fees.maxFeePerGas > cfg.maxFeePerGasWei ? cfg.maxFeePerGasWei : fees.maxFeePerGas;
      const maxPriorityFeePerGas =
        fees.maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : fees.maxPriorityFeePerGas;
      plan = {
        batchId,
        nonce,
        // Estimate plus headroom: the state may move between the estimate and inclusion.
        gas: fitted.gas,
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
      return {
        ...result,
        skipped: result.skipped + alreadyPaid,
        failed: result.failed + failed,
        ...(deferred ? { deferred } : {}),
        ...(waitingForPeriod ? { waitingForPeriod } : {}),
      };
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
