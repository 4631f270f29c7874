import { describe, expect, it } from "vitest";
import { counts, orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

describe(`order.paid writes both rails exactly once (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("snapshots rates per line at checkout and answers a repeat with the same result", async () => {
    const first = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_snap"),
    });
    expect(first.status).toBe(201);
    expect(first.body.lines).toEqual([
      { lineId: "l1", commissionBps: 1000, rateSource: "product" },
      { lineId: "l2", commissionBps: 800, rateSource: "vendor" },
    ]);
    expect(first.body.totals).toEqual({ gross: "170000", referralCommission: "14600" });
    const again = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_snap"),
    });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const different = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_snap", { shippingAmount: "1" }),
    });
    expect(different.status).toBe(409);
    expect(different.body.code).toBe("order_conflict");
  });

  it("pays each orderReference once when 20 identical signed deliveries race", async () => {
    const ref = "ord_race";
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    const event = paidEvent(ref, "170000");
    const id = "evt_race_1";
    const timestamp = Math.floor(Date.now() / 1000);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => t.webhook(event, { id, timestamp })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(responses.filter((r) => r.body.result === "recorded")).toHaveLength(1);
    expect(responses.filter((r) => r.body.result === "duplicate")).toHaveLength(19);
    const c = await counts(t, ref);
    expect(c).toMatchObject({ settlements: 2, assists: 2, rewards: 1 });
  });

  it("pays once when 20 deliveries with different webhook ids race for one order", async () => {
    const ref = "ord_race_ids";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const event = paidEvent(ref, "170000");
    const responses = await Promise.all(Array.from({ length: 20 }, () => t.webhook(event)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(responses.filter((r) => r.body.result === "recorded")).toHaveLength(1);
    expect(await counts(t, ref)).toMatchObject({ settlements: 2, assists: 2, rewards: 1 });
  });

  it("writes settlements, assists and a reward whose basis equals the commissions", async () => {
    const ref = "ord_rails";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "170000"));
    expect(paid.body).toMatchObject({ received: true, result: "recorded", settlements: 2 });
    const settlements = await t.request("GET", "/v1/admin/settlements?limit=500", { key: t.keys.admin });
    const mine = settlements.body.items.filter((s: { orderReference: string }) => s.orderReference === ref);
    expect(
      mine
        .map((s: Record<string, string>) => [s.vendorId, s.gross, s.platformFee, s.referralCommission, s.net])
        .sort(),
    ).toEqual([
      ["v_books", "50000", "5000", "5000", "40000"],
      ["v_games", "120000", "14400", "9600", "96000"],
    ]);
    const rewards = await t.request("GET", "/v1/admin/rewards?referrer=m_anna&limit=200", {
      key: t.keys.admin,
    });
    const reward = rewards.body.items.find((r: { orderReference: string }) => r.orderReference === ref);
    expect(reward).toMatchObject({
      status: "pending_approval",
      fiatBasis: "14600",
      amountWei: (14600n * 10n ** 16n).toString(),
    });
  });

  it("creates the order from the event when it was never posted, and starts credit rewards approved", async () => {
    const ref = "ord_inline";
    const res = await t.webhook(paidEvent(ref, "170000", { paymentRail: "credit", order: orderBody(ref) }));
    expect(res.status).toBe(200);
    expect(res.body.reward.status).toBe("approved");
  });

  it("refuses the same order paid again with different terms (409) and changes nothing", async () => {
    const ref = "ord_terms";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    expect((await t.webhook(paidEvent(ref, "170000"))).status).toBe(200);
    const before = await counts(t, ref);
    const conflict = await t.webhook(paidEvent(ref, "169999"));
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe("order_conflict");
    expect(await counts(t, ref)).toEqual(before);
  });

  it("refuses a replayed webhook id with a different body (409)", async () => {
    const ref = "ord_replay";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    expect((await t.webhook(paidEvent(ref, "170000"), { id: "evt_replay" })).status).toBe(200);
    const replay = await t.webhook(paidEvent(ref, "170000", { paymentRail: "credit" }), { id: "evt_replay" });
    expect(replay.status).toBe(409);
    expect(replay.body.code).toBe("webhook_conflict");
  });
  it("records a payment whose amount differs from the order total but holds the reward with amount_mismatch", async () => {
    const ref = "ord_mismatch";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "150000"));
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ result: "recorded", reward: { status: "held" } });
    const rewards = await t.request("GET", "/v1/admin/rewards?status=held", { key: t.keys.admin });
    const reward = rewards.body.items.find((r: { orderReference: string }) => r.orderReference === ref);
    expect(reward.fraudSignals).toEqual(
      expect.arrayContaining([expect.objectContaining({ code: "amount_mismatch" })]),
    );
  });
});
