import pino from "pino";
import { type Hex, keccak256 } from "viem";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Chain, EMBEDDED_CAPS, referralRewardsAbi } from "../../src/chain/index.js";
import { createMinter, type Minter, type MinterHooks } from "../../src/jobs/minter.js";
import { checkInvariants, type SeededReward, seedRewards } from "../faults/support.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * Issue 12, deliver 1: the pipelined minter (`runPipeline`, src/jobs/minter/pipeline.ts). With
 * automine off on the embedded chain, transactions wait in the node's pool until the test mines a
 * block, so "in flight" is real: several batches signed and pending at once, with consecutive nonces.
 * Then the nonce gap: batch k's broadcast refused or silently lost while batch k+1 is signed with the
 * next nonce — the node holds k+1 until k is resent; after a stop, recovery resends both in order.
 */
describe(`minter pipeline (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance();
  });
  afterEach(async () => {
    await rpc("evm_setAutomine", [true]);
  });
  afterAll(async () => {
    await t?.close();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    t.services.chain.publicClient.request({ method, params } as never) as Promise<unknown>;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Mines a block every `ms` until stopped (automine off: nothing is mined otherwise). */
  function mineEvery(ms: number): () => Promise<void> {
    let on = true;
    const loop = (async () => {
      while (on) {
        await rpc("evm_mine");
        await sleep(ms);
      }
    })();
    return async () => {
      on = false;
      await loop;
    };
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  function minterWith(
    config: { batchSize: number; pipelineDepth: number },
    options: { hooks?: MinterHooks; chain?: Chain } = {},
  ): Minter {
    return createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: options.chain ?? t.services.chain,
      config: { leaseSeconds: 30, confirmations: 1, pollMs: 20, retryBaseMs: 10, ...config },
      logger: pino({ level: "silent" }),
      hooks: options.hooks,
    });
  }

  /** The chain with `sendRawTransaction` replaced by `send` (which may forward to the real one). */
  function withBroadcast(send: (raw: Hex, forward: () => Promise<Hex>) => Promise<Hex>): Chain {
    const chain = t.services.chain;
    const publicClient = new Proxy(chain.publicClient, {
      get(target, property, receiver) {
        if (property !== "sendRawTransaction") return Reflect.get(target, property, receiver);
        return (args: { serializedTransaction: Hex }) =>
          send(args.serializedTransaction, () => target.sendRawTransaction(args));
      },
    });
    return { ...chain, publicClient } as Chain;
  }

  /** The batches that claimed these rewards, oldest first, with their (last) transaction. */
  async function batchesOf(rewards: SeededReward[]) {
    return t.services.db
      .selectFrom("mint_batches")
      .selectAll()
      .where(
        "id",
        "in",
        t.services.db
          .selectFrom("mint_batch_rewards")
          .select("batch_id")
          .where(
            "reward_id",
            "in",
            rewards.map((reward) => reward.id),
          ),
      )
      .orderBy("id")
      .execute();
  }

  async function expectExactlyOnce(rewards: SeededReward[]) {
    expect(await checkInvariants(t.services.db, t.services.chain, rewards)).toEqual({
      doublePaid: 0,
      unpaid: 0,
      mismatched: 0,
      balanceMismatch: 0,
    });
    // The ledger marked each reward once: one reward.minted journal transaction per reward.
    const journal = await t.services.db
      .selectFrom("journal_entries")
      .select(["order_reference", (eb) => eb.fn.count<string>("txn_id").distinct().as("txns")])
      .where("event", "=", "reward.minted")
      .where(
        "order_reference",
        "in",
        rewards.map((reward) => reward.orderReference),
      )
      .groupBy("order_reference")
      .execute();
    expect(journal).toHaveLength(rewards.length);
    for (const row of journal) expect(Number(row.txns)).toBe(1);
  }

  it("claims, signs and sends the next batches while the first waits for its receipt: consecutive nonces, pending together, mined in one block", async () => {
    const rewards = await seedRewards(t.services.db, 12, "overlap");
    await rpc("evm_setAutomine", [false]);
    const events: string[] = [];
    const minter = minterWith(
      { batchSize: 3, pipelineDepth: 3 },
      { hooks: { at: (point, { batchId }) => events.push(`${point}:${batchId}`) } },
    );
    const passing = minter.runPipeline();
    // Three batches signed, persisted and broadcast; none of them mined (no block yet).
    const sent = await until("three batches in flight", async () => {
      const batches = await batchesOf(rewards);
      return batches.length >= 3 && batches.every((batch) => batch.broadcast_at) && batches;
    });
    await sleep(200);
    const inFlight = await batchesOf(rewards);
    expect(inFlight, "depth 3: the fourth batch waits for a free slot").toHaveLength(3);
    const nonces = inFlight.map((batch) => Number(batch.nonce));
    expect(nonces).toEqual([nonces[0], nonces[0]! + 1, nonces[0]! + 2]);
    for (const batch of sent) {
      expect(batch.status).toBe("signed");
      expect(await rpc("eth_getTransactionReceipt", [batch.tx_hash])).toBeNull();
      expect(await rpc("eth_getTransactionByHash", [batch.tx_hash]), "the node holds it").not.toBeNull();
    }
    expect(events.filter((event) => event.startsWith("after-receipt"))).toEqual([]);

    // One block takes all three; the pass then sends the fourth and settles everything.
    await rpc("evm_mine");
    const stop = mineEvery(50);
    const pass = await passing;
    await stop();
    expect(pass).toMatchObject({ status: "empty", batches: 4, minted: 12, failed: 0 });
    const batches = await batchesOf(rewards);
    expect(batches.map((batch) => batch.status)).toEqual([
      "confirmed",
      "confirmed",
      "confirmed",
      "confirmed",
    ]);
    expect(batches.map((batch) => Number(batch.nonce))).toEqual([0, 1, 2, 3].map((i) => nonces[0]! + i));
    expect(new Set(batches.slice(0, 3).map((batch) => batch.block_number)).size, "one block").toBe(1);
    // Overlap in the minter's own order of events: batches 2 and 3 were claimed before batch 1's receipt.
    const [first, second, third] = batches.map((batch) => batch.id.toString());
    const index = (event: string) => events.indexOf(event);
    expect(index(`after-claim:${second}`)).toBeLessThan(index(`after-receipt:${first}`));
    expect(index(`after-claim:${third}`)).toBeLessThan(index(`after-receipt:${first}`));
    await expectExactlyOnce(rewards);
  });

  it("nonce gap: batch k's broadcast is silently lost, k+1 goes out with the next nonce and is held by the node until the minter resends k; both confirm", async () => {
    const rewards = await seedRewards(t.services.db, 6, "gap_lost");
    await rpc("evm_setAutomine", [false]);
    let lost: Hex | undefined;
    const held: { receipt: unknown; known: unknown; spent: unknown; afterMs: number }[] = [];
    let secondHash: Hex | undefined;
    let secondAt = 0;
    const chain = withBroadcast(async (raw, forward) => {
      if (!lost) {
        // The provider answers with the hash but never passes it on (a dropped broadcast).
        lost = raw;
        return keccak256(raw);
      }
      if (raw !== lost) {
        secondHash ??= keccak256(raw);
        secondAt ||= Date.now();
        return forward();
      }
      if (secondHash && held.length === 0) {
        // The resend of k: before it reaches the node, k+1 is known but cannot be mined (nonce gap).
        const afterMs = Date.now() - secondAt;
        await rpc("evm_mine");
        held.push({
          afterMs,
          receipt: await rpc("eth_getTransactionReceipt", [secondHash]),
          known: await rpc("eth_getTransactionByHash", [secondHash]),
          spent: await rpc("eth_getTransactionCount", [chain.operator, "latest"]),
        });
      }
      return forward();
    });
    const minter = minterWith({ batchSize: 3, pipelineDepth: 2 }, { chain });
    const stop = mineEvery(50);
    const pass = await minter.runPipeline();
    await stop();
    expect(pass).toMatchObject({ status: "empty", batches: 2, minted: 6, failed: 0 });
    const batches = await batchesOf(rewards);
    expect(batches.map((batch) => batch.status)).toEqual(["confirmed", "confirmed"]);
    const [k, next] = batches.map((batch) => Number(batch.nonce));
    // The node's pending count did not include k; the pipeline's own count gave k+1 the next nonce.
    expect(next).toBe(k! + 1);
    expect(held).toHaveLength(1);
    expect(held[0]!.receipt, "k+1 is not mined while nonce k is unused").toBeNull();
    expect(held[0]!.known, "the node holds k+1").not.toBeNull();
    expect(Number(held[0]!.spent)).toBe(k);
    // Resent as soon as k+1 waited behind it, not at the periodic rebroadcast (MINT_STUCK_SECONDS / 3 = 30 s).
    expect(held[0]!.afterMs).toBeLessThan(5_000);
    await expectExactlyOnce(rewards);
  });

  it("nonce gap avoided: a broadcast the node refuses holds the pipeline back — k is resent before k+1 is claimed", async () => {
    const rewards = await seedRewards(t.services.db, 6, "gap_refused");
    let refused = false;
    const claimedAtResend: number[] = [];
    const chain = withBroadcast(async (_raw, forward) => {
      if (!refused) {
        refused = true;
        throw new Error("HTTP request failed: 503 Service Unavailable");
      }
      if (claimedAtResend.length === 0) claimedAtResend.push((await batchesOf(rewards)).length);
      return forward();
    });
    const minter = minterWith({ batchSize: 3, pipelineDepth: 2 }, { chain });
    const pass = await minter.runPipeline();
    expect(pass).toMatchObject({ status: "empty", batches: 2, minted: 6, failed: 0 });
    expect(claimedAtResend, "only batch k existed when it was resent").toEqual([1]);
    const batches = await batchesOf(rewards);
    expect(batches.map((batch) => batch.status)).toEqual(["confirmed", "confirmed"]);
    expect(Number(batches[1]!.nonce)).toBe(Number(batches[0]!.nonce) + 1);
    await expectExactlyOnce(rewards);
  });

  it("nonce gap across a restart: k lost, k+1 held, the minter stops; the next minter's recovery resends both in nonce order and marks each once", async () => {
    const rewards = await seedRewards(t.services.db, 6, "gap_restart");
    await rpc("evm_setAutomine", [false]);
    let lost: Hex | undefined;
    const chain = withBroadcast(async (raw, forward) => {
      lost ??= raw;
      // This process never reaches the node with k (every send of it is lost).
      return raw === lost ? keccak256(raw) : forward();
    });
    let sent = 0;
    let drained: Promise<void> | undefined;
    const stopping: Minter = minterWith(
      { batchSize: 3, pipelineDepth: 2 },
      {
        chain,
        hooks: {
          at: (point) => {
            if (point === "after-broadcast" && ++sent === 2) drained = stopping.drain();
          },
        },
      },
    );
    const pass = await stopping.runPipeline();
    await drained;
    expect(pass.status).toBe("waiting");
    expect(pass.results.map((result) => result.status)).toEqual(["waiting", "waiting"]);
    const left = await batchesOf(rewards);
    expect(left.map((batch) => batch.status)).toEqual(["signed", "signed"]);
    expect(await rpc("eth_getTransactionByHash", [left[0]!.tx_hash]), "k never reached the node").toBeNull();
    for (const batch of left)
      expect(new Date(batch.lease_expires_at as Date).getTime()).toBeLessThanOrEqual(Date.now());

    const stop = mineEvery(50);
    const next = minterWith({ batchSize: 3, pipelineDepth: 2 });
    expect(await next.recover()).toEqual({ resolved: 2 });
    await stop();
    const batches = await batchesOf(rewards);
    expect(batches.map((batch) => batch.status)).toEqual(["confirmed", "confirmed"]);
    expect(Number(batches[1]!.nonce)).toBe(Number(batches[0]!.nonce) + 1);
    await expectExactlyOnce(rewards);
  });

  it("sizes the next batch to the period cap minus what the batches in flight will mint: nothing reverts, no back-off", async () => {
    const { chain } = t.services;
    const rewards = await seedRewards(t.services.db, 6, "pipe_cap");
    const amounts = rewards.map((reward) => reward.amountWei);
    const setMintCap = async (cap: bigint) => {
      const hash = await chain.walletClient.writeContract({
        address: chain.addresses.referralRewards,
        abi: referralRewardsAbi,
        functionName: "setMintCap",
        args: [cap, BigInt(EMBEDDED_CAPS.periodLength)],
      });
      await chain.publicClient.waitForTransactionReceipt({ hash });
    };
    const minted = await chain.publicClient.readContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName: "mintedInCurrentPeriod",
    });
    // Room for the first two batches (2 rewards each) and half of the fifth reward.
    await setMintCap(minted + amounts[0]! + amounts[1]! + amounts[2]! + amounts[3]! + amounts[4]! / 2n);
    try {
      await rpc("evm_setAutomine", [false]);
      const minter = minterWith({ batchSize: 2, pipelineDepth: 3 });
      const passing = minter.runPipeline();
      // The third claim sees the cap's room taken by the two batches in flight (neither mined yet).
      await until("the third batch released", async () => {
        const batches = await batchesOf(rewards);
        return batches.length === 3 && batches[2]!.status === "released";
      });
      const stop = mineEvery(50);
      const pass = await passing;
      await stop();
      expect(pass.status).toBe("released");
      expect(pass.error).toBe("PeriodCapExceeded: waits for the batches in flight");
      expect(pass).toMatchObject({ batches: 3, minted: 4, failed: 0 });
      expect(minter.stats.blockedReason, "no back-off for room the pipeline itself reserved").toBeNull();
      const batches = await batchesOf(rewards);
      expect(batches.map((batch) => batch.status)).toEqual(["confirmed", "confirmed", "released"]);
      const rows = await t.services.db
        .selectFrom("referral_rewards")
        .select("status")
        .where(
          "id",
          "in",
          rewards.map((reward) => reward.id),
        )
        .orderBy("id")
        .execute();
      expect(rows.map((row) => row.status)).toEqual([
        "minted",
        "minted",
        "minted",
        "minted",
        "approved",
        "approved",
      ]);
    } finally {
      await rpc("evm_setAutomine", [true]);
      await setMintCap(EMBEDDED_CAPS.periodCap);
    }
    // The next pass reads the cap again: with room, the rest are minted.
    const rest = await minterWith({ batchSize: 2, pipelineDepth: 3 }).runPipeline();
    expect(rest).toMatchObject({ status: "empty", minted: 2 });
    await expectExactlyOnce(rewards);
  });
});
