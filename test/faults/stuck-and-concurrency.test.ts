import { sql } from "kysely";
import { type Hex, toHex } from "viem";
import { describe, expect, it } from "vitest";
import { useFaultNetwork } from "../support/fault-network.js";
import {
  checkInvariants,
  hardhatKey,
  jsonRpc,
  runWorker,
  type Schema,
  seedRewards,
  statusCounts,
} from "./support.js";

/**
 * A transaction stuck below the base fee is replaced (same nonce, higher fee) and confirmed; two
 * minter processes at once never claim the same reward, whether they share the operator key (the
 * advisory lock serializes them) or not (SKIP LOCKED splits the rewards between them).
 */
describe("minter: stuck transaction and two processes at once (hardhat node over HTTP, Postgres)", () => {
  const network = useFaultNetwork("stuck", [1, 2, 3]);

  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it("replaces a transaction stuck below the base fee with a higher fee, same nonce, and confirms it", async () => {
    const schema = await network.openSchema("stuck");
    const rewards = await seedRewards(schema.db, 4, "stuck");
    await jsonRpc(network.node.rpcUrl, "evm_setAutomine", [false]);
    const worker = runWorker(
      {
        rpcUrl: network.node.rpcUrl,
        schema: schema.name,
        deploymentsFile: network.deploymentsFile,
        operatorKey: hardhatKey(1).privateKey,
        extra: { MINT_STUCK_SECONDS: "2", MINT_LEASE_SECONDS: "30", MINT_CONFIRM_TIMEOUT_SECONDS: "60" },
      },
      { args: ["--until-idle", "--timeout-ms", "90000"] },
    );
    try {
      // The first transaction is persisted and broadcast at today's (low) fee...
      const first = await until("the first signed transaction", async () =>
        schema.db.selectFrom("mint_batch_txs").selectAll().orderBy("created_at").executeTakeFirst(),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      // ...then the base fee jumps far above its max fee: blocks keep coming, it is never included.
      const stuckFee = BigInt(first.max_fee_per_gas) * 20n;
      await jsonRpc(network.node.rpcUrl, "hardhat_setNextBlockBaseFeePerGas", [toHex(stuckFee)]);
      await jsonRpc(network.node.rpcUrl, "evm_mine");
      const excluded = await jsonRpc<unknown>(network.node.rpcUrl, "eth_getTransactionReceipt", [
        first.tx_hash,
      ]);
      expect(excluded, "the low-fee transaction is not mined").toBeNull();
      await jsonRpc(network.node.rpcUrl, "evm_setIntervalMining", [500]);

      const exit = await worker;
      expect(exit.code, exit.stderr.slice(-3000)).toBe(0);
      const batch = await schema.db
        .selectFrom("mint_batches")
        .selectAll()
        .where("id", "=", first.batch_id)
        .executeTakeFirstOrThrow();
      const txs = await schema.db
        .selectFrom("mint_batch_txs")
        .selectAll()
        .where("batch_id", "=", first.batch_id)
        .orderBy("created_at")
        .execute();
      expect(batch.status).toBe("confirmed");
      expect(batch.fee_bumps).toBeGreaterThanOrEqual(1);
      expect(txs.length).toBe(batch.fee_bumps + 1);
      expect(new Set(txs.map((tx) => tx.nonce)).size, "every replacement keeps the nonce").toBe(1);
      for (let i = 1; i < txs.length; i++) {
        expect(BigInt(txs[i]!.max_fee_per_gas)).toBeGreaterThan(BigInt(txs[i - 1]!.max_fee_per_gas));
      }
      expect(batch.tx_hash, "a replacement, not the original, was mined").not.toBe(first.tx_hash);
      expect(txs.map((tx) => tx.tx_hash)).toContain(batch.tx_hash);
      const original = await jsonRpc<unknown>(network.node.rpcUrl, "eth_getTransactionReceipt", [
        first.tx_hash as Hex,
      ]);
      expect(original).toBeNull();
      expect(await checkInvariants(schema.db, network.chain, rewards)).toEqual({
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
      });
    } finally {
      await jsonRpc(network.node.rpcUrl, "evm_setIntervalMining", [0]);
      await jsonRpc(network.node.rpcUrl, "evm_setAutomine", [true]);
      await worker;
    }
  });

  /** Rewards that appear in batches of more than one claimer, and rewards claimed more than once. */
  async function claimAudit(schema: Schema) {
    const shared = await sql<{ reward_id: string }>`
      SELECT b.reward_id::text FROM mint_batch_rewards b JOIN mint_batches m ON m.id = b.batch_id
       GROUP BY b.reward_id HAVING count(DISTINCT m.claimed_by) > 1`.execute(schema.db);
    const repeated = await sql<{ reward_id: string }>`
      SELECT reward_id::text FROM mint_batch_rewards GROUP BY reward_id HAVING count(*) > 1`.execute(
      schema.db,
    );
    const perClaimer = await sql<{ claimed_by: string; operator: string; batches: string; rewards: string }>`
      SELECT m.claimed_by, m.operator, count(DISTINCT m.id)::text AS batches, count(b.reward_id)::text AS rewards
        FROM mint_batches m LEFT JOIN mint_batch_rewards b ON b.batch_id = m.id
       GROUP BY m.claimed_by, m.operator ORDER BY m.claimed_by`.execute(schema.db);
    return { shared: shared.rows.length, repeated: repeated.rows.length, perClaimer: perClaimer.rows };
  }

  for (const variant of ["the same operator key", "two operator keys"] as const) {
    it(`never lets two minter processes claim the same reward (${variant})`, async () => {
      const schema = await network.openSchema(variant === "two operator keys" ? "two_keys" : "one_key");
      const rewards = await seedRewards(schema.db, 80, variant === "two operator keys" ? "k2" : "k1");
      const env = (index: number) => ({
        rpcUrl: network.node.rpcUrl,
        schema: schema.name,
        deploymentsFile: network.deploymentsFile,
        operatorKey: hardhatKey(index).privateKey,
        extra: { MINT_BATCH_SIZE: "4", MINT_LEASE_SECONDS: "30" },
      });
      const [a, b] = await Promise.all([
        runWorker(env(variant === "two operator keys" ? 2 : 3), {
          args: ["--until-idle", "--timeout-ms", "120000", "--pause-ms", "20"],
        }),
        runWorker(env(3), { args: ["--until-idle", "--timeout-ms", "120000", "--pause-ms", "20"] }),
      ]);
      expect(a.code, a.stderr.slice(-2000)).toBe(0);
      expect(b.code, b.stderr.slice(-2000)).toBe(0);
      const audit = await claimAudit(schema);
      const busy = [a, b].map(
        (exit) => exit.stdout.split("\n").filter((line) => line.includes('"status":"busy"')).length,
      );
      console.log(
        `\nTwo minters, ${variant}: per claimer ${JSON.stringify(audit.perClaimer)}; busy runs ${JSON.stringify(busy)}; statuses ${JSON.stringify(await statusCounts(schema.db))}\n`,
      );
      expect(audit.shared, "rewards claimed by both processes").toBe(0);
      expect(audit.repeated, "rewards claimed in more than one batch").toBe(0);
      if (variant === "two operator keys") {
        expect(audit.perClaimer.length, "both processes claimed batches").toBe(2);
      } else {
        // One key, one sender at a time: they met on the advisory lock, or took turns.
        expect(audit.perClaimer.length === 2 || busy[0]! + busy[1]! > 0, "the two processes overlapped").toBe(
          true,
        );
      }
      expect(await checkInvariants(schema.db, network.chain, rewards)).toEqual({
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
      });
    });
  }
});
