import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDED_CAPS, referralRewardsAbi } from "../../src/chain/index.js";
import { seedRewards } from "../faults/support.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/** Issue 10.8: a batch above the period cap is cut to what the cap has left; the rest wait for the next period. */
describe(`minter: batches fitted to the remaining period cap (${TEST_DB})`, () => {
  let t: TestInstance;

  beforeAll(async () => {
    t = await startTestInstance({ MINT_GLOBAL_BACKOFF_SECONDS: "1", MINT_GLOBAL_BACKOFF_MAX_SECONDS: "2" });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function read(functionName: "mintedInCurrentPeriod" | "remainingInCurrentPeriod") {
    const { chain } = t.services;
    return chain.publicClient.readContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName,
    });
  }

  async function setMintCap(cap: bigint) {
    const { chain } = t.services;
    const hash = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName: "setMintCap",
      args: [cap, BigInt(EMBEDDED_CAPS.periodLength)],
    });
    await chain.publicClient.waitForTransactionReceipt({ hash });
  }

  it("mints the largest prefix the period cap still allows, reports what waits for the next period, and backs off only when nothing fits", async () => {
    const { db, minter } = t.services;
    const rewards = await seedRewards(db, 5, "cap");
    const amounts = rewards.map((reward) => reward.amountWei);
    // Room for the three oldest and half of the fourth.
    const room = amounts[0]! + amounts[1]! + amounts[2]! + amounts[3]! / 2n;
    await setMintCap((await read("mintedInCurrentPeriod")) + room);

    const first = await minter.runOnce({ limit: 10 });
    expect(first).toMatchObject({ status: "confirmed", minted: 3, waitingForPeriod: 2 });
    const rows = await db
      .selectFrom("referral_rewards")
      .select("status")
      .where(
        "id",
        "in",
        rewards.map((reward) => reward.id),
      )
      .orderBy("id")
      .execute();
    expect(rows.map((row) => row.status)).toEqual(["minted", "minted", "minted", "approved", "approved"]);
    expect(await read("remainingInCurrentPeriod")).toBe(amounts[3]! / 2n);
    // Something fitted: no global back-off, but what waits is reported.
    expect(minter.stats.blockedReason).toBeNull();
    let ready = await t.request("GET", "/readyz");
    expect(ready.body.minter).toMatchObject({
      state: "idle",
      blockedReason: null,
      waitingForPeriod: 2,
      waitingForPeriodWei: (amounts[3]! + amounts[4]!).toString(),
    });
    expect(Date.parse(ready.body.minter.nextPeriodAt)).toBeGreaterThan(Date.now());
    expect((await t.request("GET", "/metrics")).text).toContain("twinrail_mint_waiting_for_period 2");

    // Nothing fits any more: released, not failed, and the minter waits (the alert).
    const second = await minter.runOnce({ limit: 10 });
    expect(second).toMatchObject({ status: "released", error: "PeriodCapExceeded", waitingForPeriod: 2 });
    ready = await t.request("GET", "/readyz");
    expect(ready.body.minter).toMatchObject({ state: "blocked", blockedReason: "PeriodCapExceeded" });
    expect(await minter.runOnce()).toMatchObject({ status: "waiting" });

    await setMintCap(EMBEDDED_CAPS.periodCap);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await minter.runOnce({ limit: 10 })).toMatchObject({ status: "confirmed", minted: 2 });
    expect((await t.request("GET", "/readyz")).body.minter).toMatchObject({
      state: "idle",
      waitingForPeriod: 0,
      nextPeriodAt: null,
    });
  });
});
