import { sql } from "kysely";
import type { Logger } from "pino";
import {
  type Address,
  BaseError,
  ContractFunctionRevertedError,
  encodeFunctionData,
  type Hex,
  keccak256,
  parseEventLogs,
  type TransactionReceipt,
} from "viem";
import { referralRewardsAbi } from "../chain/abi.generated.js";
import type { Chain } from "../chain/index.js";
import type { Db } from "../db/connect.js";
import { type Actor, audit } from "../ledger/audit.js";

/**
 * The minter: exactly-once payment of approved rewards. The contract refuses to pay an orderRef twice
 * (at most once); this worker retries until every approved reward is paid (at least once). Steps, as
 * in DESIGN.md: claim with SKIP LOCKED and a lease → one sender per operator key → skip what the chain
 * already paid → simulate (dropping items that revert on their own) → sign and PERSIST the raw tx
 * before broadcast → receipt → mark rows from the logs. Expired leases are resolved from the chain.
 */

export interface MinterConfig {
  batchSize: number;
  leaseSeconds: number;
  confirmations: number;
}

export interface MintRunResult {
  batchId: string | null;
  status: "empty" | "busy" | "confirmed" | "released" | "failed";
  rewardIds: string[];
  txHash: string | null;
  minted: number;
  skipped: number;
  failed: number;
  error?: string;
}

export interface MinterStats {
  batches: number;
  minted: number;
  failures: number;
  gasUsed: bigint;
  lastSuccessAt: Date | null;
  lastError: string | null;
  running: boolean;
}

interface ClaimedReward {
  id: bigint;
  order_reference: string;
  order_ref_hash: string;
  wallet_address: string;
  amount_wei: string;
}

const ACTOR: Actor = { id: "job:minter" };
const ITEM_ERRORS = new Set(["InvalidPayout", "PayoutTooLarge", "AlreadyPaid"]);
// An arbitrary but fixed namespace for the per-operator advisory lock.
const LOCK_NAMESPACE = 7312;

export interface Minter {
  runOnce(options?: { limit?: number }): Promise<MintRunResult>;
  recover(): Promise<{ resolved: number }>;
  readonly stats: MinterStats;
}

export function createMinter(deps: {
  db: Db;
  dbKind: "postgres" | "pglite";
  chain: Chain;
  config: MinterConfig;
  logger: Logger;
}): Minter {
  const { db, chain, config, logger } = deps;
  const contract = chain.addresses.referralRewards;
  const stats: MinterStats = {
    batches: 0,
    minted: 0,
    failures: 0,
    gasUsed: 0n,
    lastSuccessAt: null,
    lastError: null,
    running: false,
  };
  let local: Promise<unknown> = Promise.resolve();

  /** One sender per operator key: an in-process queue, plus a session advisory lock on Postgres. */
  async function exclusively<T>(busy: T, fn: () => Promise<T>): Promise<T> {
    const previous = local;
    let done!: () => void;
    local = new Promise<void>((resolve) => {
      done = resolve;
    });
    await previous;
    stats.running = true;
    try {
      if (deps.dbKind === "pglite") return await fn();
      const key = BigInt.asIntN(32, BigInt(`0x${chain.operator.slice(2, 10)}`));
      return await db.connection().execute(async (conn) => {
        const { rows } = await sql<{ locked: boolean }>`
          SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}, ${Number(key)}) AS locked`.execute(conn);
        if (!rows[0]?.locked) return busy;
        try {
          return await fn();
        } finally {
          await sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}, ${Number(key)})`.execute(conn);
        }
      });
    } finally {
      stats.running = false;
      done();
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
          operator: chain.operator.toLowerCase(),
          chain_id: chain.chainId,
          lease_expires_at: sql<Date>`now() + make_interval(secs => ${config.leaseSeconds})`,
          reward_count: picked.length,
          total_wei: "0",
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
          .returning(["id", "order_reference", "order_ref_hash", "wallet_address", "amount_wei"])
          .executeTakeFirstOrThrow();
        rewards.push(updated as ClaimedReward);
      }
      const total = rewards.reduce((sum, reward) => sum + BigInt(reward.amount_wei), 0n);
      await trx
        .updateTable("mint_batches")
        .set({ total_wei: total.toString() })
        .where("id", "=", batch.id)
        .execute();
      return { batchId: batch.id, rewards };
    });
  }

  /** Marks rewards minted from the chain's own record of their payment (a ReferralPaid log). */
  async function markMintedFromChain(batchId: bigint, rewards: ClaimedReward[]): Promise<ClaimedReward[]> {
    const unpaid: ClaimedReward[] = [];
    for (const reward of rewards) {
      const word = await chain.publicClient.readContract({
        address: contract,
        abi: referralRewardsAbi,
        functionName: "paidOrders",
        args: [reward.order_ref_hash as Hex],
      });
      if (word === 0n) {
        unpaid.push(reward);
        continue;
      }
      const logs = await chain.publicClient.getContractEvents({
        address: contract,
        abi: referralRewardsAbi,
        eventName: "ReferralPaid",
        args: { orderRef: reward.order_ref_hash as Hex },
        fromBlock: chain.deployBlock,
        toBlock: "latest",
      });
      const log = logs[0];
      if (!log) {
        unpaid.push(reward); // paid per storage but no log visible yet: try again next run
        continue;
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
          .execute();
      }
    });
  }

  async function failReward(batchId: bigint, rewardId: bigint, reason: string) {
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable("referral_rewards")
        .set({ status: "failed", failure_reason: reason, batch_id: null, updated_at: sql<Date>`now()` })
        .where("id", "=", rewardId)
        .where("status", "=", "minting")
        .where("batch_id", "=", batchId)
        .execute();
      await audit(
        trx,
        ACTOR,
        "reward.failed",
        { type: "reward", id: rewardId },
        { status: "minting" },
        { status: "failed", reason },
      );
    });
    stats.failures++;
  }

  /** Applies a receipt: ReferralPaid logs mark rows minted; ReferralSkipped rows are found on-chain. */
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
        minted++;
      } else skipped.push(reward);
    }
    // Skipped (paid earlier) or absent from the logs: resolve each from the chain; unpaid go back.
    const unresolved = await markMintedFromChain(batchId, [...skipped, ...byHash.values()]);
    await db
      .updateTable("mint_batches")
      .set({
        status: "confirmed",
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
    return { minted, skipped: skipped.length };
  }

  async function simulateAndDrop(batchId: bigint, rewards: ClaimedReward[]) {
    let remaining = [...rewards].sort((a, b) => a.wallet_address.localeCompare(b.wallet_address));
    let failed = 0;
    for (;;) {
      if (remaining.length === 0) return { remaining, failed, globalError: undefined };
      const payouts = remaining.map((reward) => ({
        orderRef: reward.order_ref_hash as Hex,
        to: reward.wallet_address as Address,
        amount: BigInt(reward.amount_wei),
      }));
      try {
        await chain.publicClient.simulateContract({
          address: contract,
          abi: referralRewardsAbi,
          functionName: "payReferralBatch",
          args: [payouts, batchId],
          account: chain.operator,
        });
        return { remaining, failed, globalError: undefined, payouts };
      } catch (error) {
        const revert =
          error instanceof BaseError
            ? error.walk((e) => e instanceof ContractFunctionRevertedError)
            : undefined;
        const data = revert instanceof ContractFunctionRevertedError ? revert.data : undefined;
        const errorName = data?.errorName;
        const orderRef = (data?.args?.[0] as string | undefined)?.toLowerCase();
        const culprit = orderRef
          ? remaining.find((reward) => reward.order_ref_hash.toLowerCase() === orderRef)
          : undefined;
        if (errorName && ITEM_ERRORS.has(errorName) && culprit) {
          // A permanent revert of one item: isolate it and let the rest proceed.
          await failReward(
            batchId,
            culprit.id,
            `${errorName}: ${revert instanceof BaseError ? revert.shortMessage : ""}`,
          );
          remaining = remaining.filter((reward) => reward !== culprit);
          failed++;
          continue;
        }
        return {
          remaining,
          failed,
          globalError: errorName ?? (error instanceof BaseError ? error.shortMessage : String(error)),
        };
      }
    }
  }

  async function mintBatch(limit: number): Promise<MintRunResult> {
    const claimed = await claim(limit);
    if (!claimed)
      return {
        batchId: null,
        status: "empty",
        rewardIds: [],
        txHash: null,
        minted: 0,
        skipped: 0,
        failed: 0,
      };
    const { batchId } = claimed;
    const rewardIds = claimed.rewards.map((reward) => reward.id.toString());
    const base = { batchId: batchId.toString(), rewardIds };
    stats.batches++;
    try {
      // Step 3: what the chain already paid (a crash after broadcast, another instance) is not paid again.
      const unpaid = await markMintedFromChain(batchId, claimed.rewards);
      const alreadyPaid = claimed.rewards.length - unpaid.length;
      const simulated = await simulateAndDrop(batchId, unpaid);
      if (simulated.globalError) {
        await release(
          batchId,
          simulated.remaining.map((reward) => reward.id),
          simulated.globalError,
          "released",
        );
        stats.failures++;
        stats.lastError = simulated.globalError;
        logger.error(
          { batchId: base.batchId, error: simulated.globalError },
          "mint batch reverted for a global reason; rewards released, waiting",
        );
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed: simulated.failed,
          error: simulated.globalError,
        };
      }
      if (simulated.remaining.length === 0 || !simulated.payouts) {
        await db
          .updateTable("mint_batches")
          .set({ status: "released", error: "nothing left to send", updated_at: sql<Date>`now()` })
          .where("id", "=", batchId)
          .execute();
        return {
          ...base,
          status: "released",
          txHash: null,
          minted: 0,
          skipped: alreadyPaid,
          failed: simulated.failed,
        };
      }

      // Step 4: sign, persist nonce + raw tx + hash, only then broadcast.
      const nonce = await chain.publicClient.getTransactionCount({
        address: chain.operator,
        blockTag: "pending",
      });
      const data = encodeFunctionData({
        abi: referralRewardsAbi,
        functionName: "payReferralBatch",
        args: [simulated.payouts, batchId],
      });
      const account = chain.walletClient.account;
      if (!account) throw new Error("the operator wallet client has no local account to sign with");
      const prepared = await chain.walletClient.prepareTransactionRequest({
        account,
        to: contract,
        data,
        nonce,
        chain: chain.walletClient.chain,
      });
      const rawTx = await chain.walletClient.signTransaction(prepared);
      const txHash = keccak256(rawTx);
      await db
        .updateTable("mint_batches")
        .set({
          status: "signed",
          nonce: BigInt(nonce),
          raw_tx: rawTx,
          tx_hash: txHash.toLowerCase(),
          lease_expires_at: sql<Date>`now() + make_interval(secs => ${config.leaseSeconds})`,
          updated_at: sql<Date>`now()`,
        })
        .where("id", "=", batchId)
        .execute();
      await broadcast(rawTx);

      // Step 5: receipt, then the logs decide which rows are minted.
      const receipt = await chain.publicClient.waitForTransactionReceipt({
        hash: txHash,
        confirmations: config.confirmations,
        timeout: 120_000,
      });
      if (receipt.status !== "success") {
        await release(
          batchId,
          simulated.remaining.map((reward) => reward.id),
          "transaction reverted",
          "failed",
        );
        stats.failures++;
        return {
          ...base,
          status: "failed",
          txHash,
          minted: 0,
          skipped: alreadyPaid,
          failed: simulated.failed,
          error: "transaction reverted",
        };
      }
      const applied = await applyReceipt(batchId, simulated.remaining, receipt);
      stats.lastSuccessAt = new Date();
      stats.lastError = null;
      logger.info(
        { batchId: base.batchId, txHash, minted: applied.minted, gasUsed: receipt.gasUsed.toString() },
        "mint batch confirmed",
      );
      return {
        ...base,
        status: "confirmed",
        txHash,
        minted: applied.minted,
        skipped: alreadyPaid + applied.skipped,
        failed: simulated.failed,
      };
    } catch (error) {
      // Leave the batch as it is: its lease expires and recovery resolves it from the chain.
      stats.failures++;
      stats.lastError = error instanceof Error ? error.message : String(error);
      logger.error(
        { batchId: base.batchId, err: error },
        "mint batch interrupted; recovery will resolve it from the chain",
      );
      return {
        ...base,
        status: "failed",
        txHash: null,
        minted: 0,
        skipped: 0,
        failed: 0,
        error: stats.lastError,
      };
    }
  }

  async function broadcast(rawTx: Hex) {
    try {
      await chain.publicClient.sendRawTransaction({ serializedTransaction: rawTx });
    } catch (error) {
      const message = error instanceof Error ? error.message.toLowerCase() : "";
      // Already in the pool or already mined: the receipt wait decides.
      if (
        message.includes("already known") ||
        message.includes("nonce too low") ||
        message.includes("already imported")
      )
        return;
      throw error;
    }
  }

  async function recover(): Promise<{ resolved: number }> {
    const stale = await db
      .selectFrom("mint_batches")
      .selectAll()
      .where("status", "in", ["claimed", "signed"])
      .where("operator", "=", chain.operator.toLowerCase())
      .where("lease_expires_at", "<", sql<Date>`now()`)
      .orderBy("id")
      .execute();
    for (const batch of stale) {
      const rewards = (await db
        .selectFrom("referral_rewards")
        .select(["id", "order_reference", "order_ref_hash", "wallet_address", "amount_wei"])
        .where("batch_id", "=", batch.id)
        .where("status", "=", "minting")
        .execute()) as ClaimedReward[];
      if (batch.tx_hash && batch.raw_tx) {
        const receipt = await chain.publicClient
          .getTransactionReceipt({ hash: batch.tx_hash as Hex })
          .catch(() => undefined);
        if (receipt?.status === "success") {
          await applyReceipt(batch.id, rewards, receipt);
          continue;
        }
        if (!receipt) {
          // Never mined: the persisted raw tx is rebroadcast; if its nonce is spent, the chain decides.
          await broadcast(batch.raw_tx as Hex).catch(() => undefined);
          const mined = await chain.publicClient
            .waitForTransactionReceipt({
              hash: batch.tx_hash as Hex,
              confirmations: config.confirmations,
              timeout: 15_000,
            })
            .catch(() => undefined);
          if (mined?.status === "success") {
            await applyReceipt(batch.id, rewards, mined);
            continue;
          }
        }
      }
      // Unsent, reverted or replaced: whatever the chain paid is marked, the rest is approved again.
      const unpaid = await markMintedFromChain(batch.id, rewards);
      await release(
        batch.id,
        unpaid.map((reward) => reward.id),
        "lease expired; resolved from chain",
        "released",
      );
    }
    return { resolved: stale.length };
  }

  return {
    stats,
    recover: () => exclusively({ resolved: 0 }, recover),
    runOnce: (options = {}) =>
      exclusively<MintRunResult>(
        { batchId: null, status: "busy", rewardIds: [], txHash: null, minted: 0, skipped: 0, failed: 0 },
        async () => {
          await recover();
          return mintBatch(Math.min(options.limit ?? config.batchSize, 200));
        },
      ),
  };
}
