import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMinter, type Minter, type MintRunResult } from "../../src/jobs/minter.js";
import { checkInvariants, seedRewards } from "../faults/support.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * Issue 12.1: batches sized by gas. On the embedded chain (Hardhat/EDR, hardfork osaka, block gas limit
 * 60M) the EIP-7825 per-transaction cap is 2^24 = 16,777,216, and EDR's eth_estimateGas probes at about
 * 3x the gas a batch uses: from ~105 new recipients on, the estimate fails with -32602 "transaction gas
 * limit (31131816) is greater than the cap (16777216)" — viem's "Missing or invalid parameters" — though
 * 200 new recipients need only ~10.4M gas.
 */
describe(`minter: batches sized by gas (${TEST_DB})`, () => {
  let t: TestInstance;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    t = await startTestInstance({ MINT_BATCH_SIZE: "200", MINT_RETRY_BASE_MS: "10" });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** A second minter on the same database and chain with its own settings (and a captured log). */
  function minterWith(config: { maxTxGas?: bigint; batchSize?: number }): Minter {
    const stream = new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    return createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: t.services.chain,
      config: { batchSize: 200, leaseSeconds: 30, confirmations: 1, pollMs: 20, retryBaseMs: 10, ...config },
      logger: pino({ level: "info" }, stream),
    });
  }

  async function runUntilEmpty(minter: Minter, maxRuns: number): Promise<MintRunResult[]> {
    const results: MintRunResult[] = [];
    for (let run = 0; run < maxRuns; run++) {
      const result = await minter.runOnce();
      results.push(result);
      if (result.status === "empty") return results;
    }
    throw new Error(`not empty after ${maxRuns} runs: ${JSON.stringify(results.map((r) => r.status))}`);
  }

  const statuses = async (ids: bigint[]) =>
    (
      await t.services.db
        .selectFrom("referral_rewards")
        .select(["id", "status", "failure_reason"])
        .where("id", "in", ids)
        .orderBy("id")
        .execute()
    ).map((row) => row.status);

  it("mints 200 rewards to 200 new recipients at MINT_BATCH_SIZE=200 through its own loop", async () => {
    const { db, chain, minter } = t.services;
    const rewards = await seedRewards(db, 200, "wide", { perWallet: 1 });
    const results = await runUntilEmpty(minter, 6);
    expect(results.filter((result) => result.status === "failed")).toEqual([]);
    expect(new Set(await statuses(rewards.map((reward) => reward.id)))).toEqual(new Set(["minted"]));
    expect(await checkInvariants(db, chain, rewards)).toEqual({
      doublePaid: 0,
      unpaid: 0,
      mismatched: 0,
      balanceMismatch: 0,
    });
    const batches = await db
      .selectFrom("mint_batches")
      .select(["reward_count", "gas_used", "status"])
      .where("status", "=", "confirmed")
      .execute();
    expect(batches.reduce((sum, batch) => sum + batch.reward_count, 0)).toBe(200);
    for (const batch of batches) expect(BigInt(batch.gas_used ?? 0)).toBeLessThanOrEqual(16_777_216n);
    // One transaction: 200 new recipients need ~10.4M gas, under the 2^24 cap.
    expect(batches).toHaveLength(1);
  });

  it("cuts a batch that does not fit MINT_MAX_TX_GAS to its largest prefix and releases the rest in the same step", async () => {
    const { db, chain } = t.services;
    const minter = minterWith({ maxTxGas: 1_000_000n });
    const rewards = await seedRewards(db, 40, "cut", { perWallet: 1 });
    const ids = rewards.map((reward) => reward.id);

    const first = await minter.runOnce();
    expect(first.status).toBe("confirmed");
    expect(first.minted).toBeGreaterThan(5);
    expect(first.minted).toBeLessThan(40);
    expect(first.deferred).toBe(40 - first.minted);
    expect(first.rewardIds).toEqual(ids.slice(0, first.minted).map(String));
    // The oldest rewards went first; the rest are back to `approved` (not stuck `minting`).
    const after = await statuses(ids);
    expect(after.slice(0, first.minted)).toEqual(Array(first.minted).fill("minted"));
    expect(after.slice(first.minted)).toEqual(Array(40 - first.minted).fill("approved"));
    const batch = await db
      .selectFrom("mint_batches")
      .select(["reward_count", "gas_used"])
      .where("id", "=", BigInt(first.batchId!))
      .executeTakeFirstOrThrow();
    expect(batch.reward_count).toBe(first.minted);
    expect(BigInt(batch.gas_used ?? 0)).toBeLessThanOrEqual(1_000_000n);
    expect(minter.stats.deferredForGas).toBe(40 - first.minted);

    await runUntilEmpty(minter, 8);
    expect(new Set(await statuses(ids))).toEqual(new Set(["minted"]));
    expect((await checkInvariants(db, chain, rewards)).doublePaid).toBe(0);
  });

  it("fails a reward that cannot fit a transaction even alone, saying why, and alerts", async () => {
    const { db } = t.services;
    const minter = minterWith({ maxTxGas: 100_000n });
    const rewards = await seedRewards(db, 2, "alone", { perWallet: 1 });
    const result = await minter.runOnce();
    expect(result).toMatchObject({ status: "released", minted: 0, failed: 2 });
    const rows = await db
      .selectFrom("referral_rewards")
      .select(["status", "failure_reason"])
      .where(
        "id",
        "in",
        rewards.map((reward) => reward.id),
      )
      .execute();
    for (const row of rows) {
      expect(row.status).toBe("failed");
      expect(row.failure_reason).toMatch(
        /^ExceedsTransactionGas: one payout needs \d+ gas, the transaction cap is 100000/,
      );
    }
    expect(logs.filter((line) => line.alert === "mint_payout_exceeds_gas_cap")).toHaveLength(2);
  });
});
