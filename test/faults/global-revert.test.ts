import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDED_CAPS, referralRewardsAbi } from "../../src/chain/index.js";
import { startTestInstance, type TestInstance } from "../support/harness.js";
import { seedRewards } from "./support.js";

/**
 * Global reverts (paused, period cap) alert and back off instead of looping; a permanent revert of one
 * item fails that reward only. Runs in-process on the embedded chain (PGlite, or Postgres with
 * TEST_DB=postgres), where the admin endpoints, /readyz and /metrics can be read between runs.
 */
describe("minter: global reverts back off, item reverts are isolated", () => {
  let t: TestInstance;

  beforeAll(async () => {
    t = await startTestInstance({ MINT_GLOBAL_BACKOFF_SECONDS: "1", MINT_GLOBAL_BACKOFF_MAX_SECONDS: "4" });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function write(functionName: "pause" | "unpause" | "setMintCap", args: readonly unknown[] = []) {
    const { chain } = t.services;
    const hash = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName,
      args,
    } as never);
    await chain.publicClient.waitForTransactionReceipt({ hash });
  }

  const batchCount = async () =>
    Number(
      (
        await t.services.db
          .selectFrom("mint_batches")
          .select((eb) => eb.fn.countAll<bigint>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );

  for (const reason of ["EnforcedPause", "PeriodCapExceeded"] as const) {
    it(`alerts and waits while every batch reverts with ${reason}, then mints once it clears`, async () => {
      const { minter, db } = t.services;
      const rewards = await seedRewards(db, 3, `global_${reason}`);
      if (reason === "EnforcedPause") await write("pause");
      else await write("setMintCap", [1n, BigInt(EMBEDDED_CAPS.periodLength)]);

      const refused = await minter.runOnce();
      expect(refused).toMatchObject({ status: "released", error: reason, minted: 0 });
      const statuses = await db
        .selectFrom("referral_rewards")
        .select("status")
        .where(
          "id",
          "in",
          rewards.map((reward) => reward.id),
        )
        .execute();
      expect(
        statuses.map((row) => row.status),
        "released, not failed",
      ).toEqual(["approved", "approved", "approved"]);

      const ready = await t.request("GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.minter).toMatchObject({ state: "blocked", blockedReason: reason });
      const metrics = await t.request("GET", "/metrics");
      expect(metrics.text).toContain("twinrail_mint_blocked 1");
      expect(metrics.text).toMatch(/twinrail_mint_failures_by_kind_total\{kind="global"\} [1-9]/);
      expect(metrics.text).toMatch(/twinrail_mint_queue_depth [1-9]/);

      // Within the back-off the scheduled run claims nothing: no loop of claim → revert → release.
      const before = await batchCount();
      expect(await minter.runOnce()).toMatchObject({ status: "waiting" });
      expect(await minter.runOnce()).toMatchObject({ status: "waiting" });
      expect(await batchCount()).toBe(before);

      if (reason === "EnforcedPause") await write("unpause");
      else await write("setMintCap", [EMBEDDED_CAPS.periodCap, BigInt(EMBEDDED_CAPS.periodLength)]);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const minted = await minter.runOnce();
      expect(minted).toMatchObject({ status: "confirmed", minted: 3 });
      expect((await t.request("GET", "/readyz")).body.minter).toMatchObject({
        state: "idle",
        blockedReason: null,
      });
      expect((await t.request("GET", "/metrics")).text).toContain("twinrail_mint_blocked 0");
    });
  }

  it("fails only the reward whose payout reverts on its own (PayoutTooLarge); the rest of the batch is minted", async () => {
    const { minter, db } = t.services;
    const rewards = await seedRewards(db, 4, "item_revert");
    const bad = rewards[1]!;
    // Above the contract's per-payout maximum: a permanent revert naming this orderRef.
    const tooLarge = EMBEDDED_CAPS.maxPayout + 1n;
    await db
      .updateTable("referral_rewards")
      .set({ amount_wei: tooLarge.toString(), fiat_basis: 1n, wei_per_minor_unit: tooLarge.toString() })
      .where("id", "=", bad.id)
      .execute();

    const result = await minter.runOnce({ limit: 10 });
    expect(result).toMatchObject({ status: "confirmed", minted: 3, failed: 1 });
    const rows = await db
      .selectFrom("referral_rewards")
      .select(["id", "status", "failure_reason"])
      .where(
        "id",
        "in",
        rewards.map((reward) => reward.id),
      )
      .orderBy("id")
      .execute();
    expect(rows.map((row) => row.status)).toEqual(["minted", "failed", "minted", "minted"]);
    expect(rows[1]?.failure_reason).toMatch(/^PayoutTooLarge/);

    const batches = await t.request("GET", "/v1/admin/mint-batches", { key: t.keys.admin });
    expect(batches.status).toBe(200);
    const batch = batches.body.items.find((item: { id: string }) => item.id === result.batchId);
    expect(batch).toMatchObject({
      status: "confirmed",
      txHash: result.txHash,
      rewardIds: rewards.map((reward) => reward.id.toString()),
      feeBumps: 0,
    });
    expect(Number(batch.gasUsed)).toBeGreaterThan(21_000);
    expect(batch.transactions).toHaveLength(1);
    expect(batch.transactions[0].txHash).toBe(result.txHash);
    expect(batch.rewards.find((reward: { id: string }) => reward.id === bad.id.toString())).toMatchObject({
      status: "failed",
    });
  });
});
