import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orderRefHash, referralRewardsAbi } from "../../src/chain/index.js";
import { createMinter, type Minter } from "../../src/jobs/minter.js";
import { clawbackDebt } from "../../src/ledger/clawbacks.js";
import { reconcile } from "../../src/ledger/reconcile.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

const WEI = 10n ** 16n; // the default UAH rate: wei per minor unit

function refundEvent(orderReference: string, refundId: string, amountRefunded: string) {
  return {
    type: "order.refunded",
    data: { orderReference, refundId, amountRefunded, refundedAt: new Date().toISOString() },
  };
}

/**
 * Issue 10.3: a refund that arrives while the reward is `minting` is booked as clawback debt; when that
 * batch is then proven unsent and released, the reward goes back with its remaining entitlement (or is
 * cancelled) and the debt is undone — nothing above the entitlement is ever minted.
 */
describe(`refund while minting, then the batch is released unsent (${TEST_DB})`, () => {
  let t: TestInstance;
  let crashAfterClaim = false;
  let minter: Minter;

  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
    // The service's minter with a short lease, and a crash right after the claim when armed: the batch
    // is left `claimed` with nothing signed, so the next run's recovery proves it unsent and releases it.
    minter = createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: t.services.chain,
      config: { batchSize: 20, leaseSeconds: 1, confirmations: 1, pollMs: 20, retryBaseMs: 10 },
      logger: pino({ level: "silent" }),
      hooks: {
        at(point) {
          if (point === "after-claim" && crashAfterClaim) {
            crashAfterClaim = false;
            throw new Error("crash after claim");
          }
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  async function approvedReward(ref: string) {
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    expect((await t.webhook(paidEvent(ref, "170000"))).status).toBe(200);
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    const approve = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [reward.id.toString()] },
    });
    expect(approve.body.approved).toContain(reward.id.toString());
    return reward;
  }

  /** Claims the reward and "crashes": it stays `minting` in a batch that was never signed. */
  async function leaveMinting(rewardId: bigint) {
    crashAfterClaim = true;
    expect(await minter.runOnce()).toMatchObject({ status: "failed", error: "crash after claim" });
    expect(await row(rewardId)).toMatchObject({ status: "minting" });
  }

  const row = (id: bigint) =>
    t.services.db.selectFrom("referral_rewards").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

  async function paidOnChain(ref: string) {
    const { chain } = t.services;
    return chain.publicClient.readContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName: "paidOrders",
      args: [orderRefHash(ref)],
    });
  }

  const lease = () => new Promise((resolve) => setTimeout(resolve, 1_100));

  it("a full refund while minting, then release: the reward is cancelled, nothing is minted, reconcile is clean", async () => {
    const ref = "ord_rwm_full";
    const reward = await approvedReward(ref);
    const debtBefore = await clawbackDebt(t.services.db, "m_anna");
    await leaveMinting(reward.id);

    expect((await t.webhook(refundEvent(ref, "re_full", "170000"))).status).toBe(200);
    // In flight: booked as debt against the reward, as for a minted one.
    expect(await row(reward.id)).toMatchObject({ status: "minting", clawed_back_basis: reward.fiat_basis });
    expect(await clawbackDebt(t.services.db, "m_anna")).toBe(debtBefore + reward.fiat_basis * WEI);

    await lease();
    const run = await minter.runOnce();
    expect(run.status).toBe("empty");
    expect(await row(reward.id)).toMatchObject({
      status: "cancelled",
      amount_wei: "0",
      fiat_basis: 0n,
      clawed_back_basis: 0n,
    });
    expect(await paidOnChain(ref)).toBe(0n);
    expect(await clawbackDebt(t.services.db, "m_anna")).toBe(debtBefore);
    const report = await reconcile(t.services.db, t.services.chain);
    expect(report.mismatches).toEqual([]);
  });

  it("a partial refund while minting, then release: the reward is reduced to the remaining entitlement and minted at that amount", async () => {
    const ref = "ord_rwm_partial";
    const reward = await approvedReward(ref);
    expect(reward.fiat_basis).toBe(14_600n);
    const debtBefore = await clawbackDebt(t.services.db, "m_anna");
    await leaveMinting(reward.id);

    expect((await t.webhook(refundEvent(ref, "re_10pct", "17000"))).status).toBe(200); // 10 %
    await lease();
    const run = await minter.runOnce();
    expect(run).toMatchObject({ status: "confirmed", minted: 1 });
    const minted = await row(reward.id);
    expect(minted).toMatchObject({
      status: "minted",
      fiat_basis: 13_140n,
      clawed_back_basis: 0n,
      amount_wei: (13_140n * WEI).toString(),
    });
    const { chain } = t.services;
    const [log] = await chain.publicClient.getContractEvents({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      eventName: "ReferralPaid",
      args: { orderRef: orderRefHash(ref) },
      fromBlock: chain.deployBlock,
    });
    expect(log?.args.amount).toBe(13_140n * WEI);
    expect(await clawbackDebt(t.services.db, "m_anna")).toBe(debtBefore);
    expect((await reconcile(t.services.db, t.services.chain)).mismatches).toEqual([]);
  });

  it("reconcile reports a minted amount above the order's remaining entitlement that no clawback covers", async () => {
    const ref = "ord_rwm_corrupt";
    const reward = await approvedReward(ref);
    expect(await minter.runOnce()).toMatchObject({ status: "confirmed", minted: 1 });
    // A refund after mint: the excess is clawback debt — covered, clean.
    expect((await t.webhook(refundEvent(ref, "re_after", "170000"))).status).toBe(200);
    expect((await reconcile(t.services.db, t.services.chain)).mismatches).toEqual([]);
    // Hand-corrupted: that debt undone as if the minted reward had been released.
    const debt = reward.fiat_basis * WEI;
    const owed = await clawbackDebt(t.services.db, "m_anna");
    await t.services.db
      .insertInto("clawbacks")
      .values({
        referrer_member_id: "m_anna",
        kind: "released" as never,
        amount_wei: (-debt).toString(),
        debt_after: (owed - debt).toString(),
        reward_id: reward.id,
        order_reference: ref,
      })
      .execute();
    const report = await reconcile(t.services.db, t.services.chain);
    expect(report.mismatches).toContainEqual({
      check: "minted_excess",
      subject: `reward ${reward.id}`,
      detail: `delivered ${debt} wei for ${ref}, which now entitles 0: ${debt} above it, clawback debt covers 0`,
    });
  });
});
