import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { remainingAfterRefunds } from "../../src/domain/money.js";
import { markSettlementsDue } from "../../src/jobs/settlements.js";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

function refundEvent(orderReference: string, refundId: string, amountRefunded: string) {
  return {
    type: "order.refunded",
    data: { orderReference, refundId, amountRefunded, refundedAt: new Date().toISOString() },
  };
}

/**
 * A payment whose amount differs from the order total holds BOTH rails until an admin resolves it:
 * the reward (held, amount_mismatch) and the vendors' settlements (held, never due, never paid out).
 */
describe(`an amount mismatch holds rail A too (${TEST_DB})`, () => {
  const t = useTestInstance();

  async function settlementStatuses(ref: string) {
    return (
      await t.services.db
        .selectFrom("settlements")
        .select(["vendor_id", "status"])
        .where("order_reference", "=", ref)
        .orderBy("vendor_id")
        .execute()
    ).map((row) => [row.vendor_id, row.status]);
  }

  async function effective(ref: string) {
    const rows = await sql<{ vendor_id: string; fee: string; commission: string; net: string }>`
      SELECT s.vendor_id, (s.platform_fee + coalesce(sum(a.platform_fee_delta), 0))::text AS fee,
             (s.referral_commission + coalesce(sum(a.referral_commission_delta), 0))::text AS commission,
             (s.net + coalesce(sum(a.net_delta), 0))::text AS net
      FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
      WHERE s.order_reference = ${ref} GROUP BY s.id ORDER BY s.vendor_id`.execute(t.services.db);
    return rows.rows.map((row) => [row.vendor_id, BigInt(row.fee), BigInt(row.commission), BigInt(row.net)]);
  }

  async function reconcileClean() {
    const report = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(report.status).toBe(200);
    expect(report.body.mismatches).toEqual([]);
  }

  it("a payment of 1 on a 170,000 order leaves no settlement payable until the held reward is approved", async () => {
    const ref = "ord_mm_under";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "1"));
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ result: "recorded", reward: { status: "held" } });
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    // The settlements job and a payout run leave them alone.
    await markSettlementsDue(t.services.db, new Date(Date.now() + 30 * 86_400_000));
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    const payouts = await t.request("POST", "/v1/admin/payouts", { key: t.keys.admin, body: {} });
    expect(payouts.status).toBe(200);
    const inPayout = await t.services.db
      .selectFrom("settlements")
      .select("id")
      .where("order_reference", "=", ref)
      .where("payout_id", "is not", null)
      .execute();
    expect(inPayout).toEqual([]);
    await reconcileClean();

    // The admin resolves the mismatch by approving the held reward: rail A goes back to pending.
    const approved = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [paid.body.reward.id] },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.approved).toEqual([paid.body.reward.id]);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "pending"],
      ["v_games", "pending"],
    ]);
    await reconcileClean();
  });

  it("an order without a reward is released by POST /v1/admin/orders/:ref/release-hold", async () => {
    const ref = "ord_mm_noref";
    await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody(ref, { refCode: null, buyerMemberId: "m_mm_plain" }),
    });
    const paid = await t.webhook(paidEvent(ref, "169000"));
    expect(paid.status).toBe(200);
    expect(paid.body.reward).toBeNull();
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    const released = await t.request("POST", `/v1/admin/orders/${ref}/release-hold`, {
      key: t.keys.admin,
      body: {},
    });
    expect(released.status).toBe(200);
    expect(released.body.orderReference).toBe(ref);
    expect(released.body.released).toHaveLength(2);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "pending"],
      ["v_games", "pending"],
    ]);
    const again = await t.request("POST", `/v1/admin/orders/${ref}/release-hold`, {
      key: t.keys.admin,
      body: {},
    });
    expect(again.status).toBe(200);
    expect(again.body.released).toEqual([]);
    await reconcileClean();
  });

  it("a full refund of a held order cancels its held settlements (nothing is left to release)", async () => {
    const ref = "ord_mm_refunded";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "160000"));
    expect(paid.status).toBe(200);
    expect(paid.body.reward.status).toBe("held");
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    const refund = await t.webhook(refundEvent(ref, "rf_mm_full", "160000"));
    expect(refund.status).toBe(200);
    expect(refund.body.status).toBe("refunded");
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "cancelled"],
      ["v_games", "cancelled"],
    ]);
    expect(await effective(ref)).toEqual([
      ["v_books", 0n, 0n, 0n],
      ["v_games", 0n, 0n, 0n],
    ]);
    // Resolving the mismatch afterwards finds nothing to release and schedules nothing.
    const release = await t.request("POST", `/v1/admin/orders/${ref}/release-hold`, {
      key: t.keys.admin,
      body: {},
    });
    expect(release.status).toBe(200);
    expect(release.body.released).toEqual([]);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "cancelled"],
      ["v_games", "cancelled"],
    ]);
    await reconcileClean();
  });

  it("a full refund during an open dispute cancels the dispute-held settlements; the dispute's outcome then releases nothing", async () => {
    const ref = "ord_mm_refund_dispute";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "170000"));
    expect(paid.status).toBe(200);
    const opened = await t.webhook({
      type: "order.chargeback",
      data: { orderReference: ref, disputeId: "dp_rf", status: "opened", amount: "170000" },
    });
    expect(opened.status).toBe(200);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    const refund = await t.webhook(refundEvent(ref, "rf_dp_full", "170000"));
    expect(refund.status).toBe(200);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "cancelled"],
      ["v_games", "cancelled"],
    ]);
    const won = await t.webhook({
      type: "order.chargeback",
      data: { orderReference: ref, disputeId: "dp_rf", status: "won", amount: "170000" },
    });
    expect(won.status).toBe(200);
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "cancelled"],
      ["v_games", "cancelled"],
    ]);
    await reconcileClean();
  });

  it("release-hold answers 409 for an order paid its total and 404 for an unknown order", async () => {
    const ref = "ord_mm_exact";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    await t.webhook(paidEvent(ref, "170000"));
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "pending"],
      ["v_games", "pending"],
    ]);
    const exact = await t.request("POST", `/v1/admin/orders/${ref}/release-hold`, {
      key: t.keys.admin,
      body: {},
    });
    expect(exact.status).toBe(409);
    const unknown = await t.request("POST", "/v1/admin/orders/ord_mm_nope/release-hold", {
      key: t.keys.admin,
      body: {},
    });
    expect(unknown.status).toBe(404);
  });

  it("while a dispute is open on a mismatched order, approving the reward does not release rail A", async () => {
    const ref = "ord_mm_dispute";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "150000"));
    expect(paid.body.reward.status).toBe("held");
    const opened = await t.webhook({
      type: "order.chargeback",
      data: { orderReference: ref, disputeId: "dp_mm", status: "opened", amount: "150000" },
    });
    expect(opened.status).toBe(200);
    await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [paid.body.reward.id] },
    });
    expect(await settlementStatuses(ref)).toEqual([
      ["v_books", "held"],
      ["v_games", "held"],
    ]);
    const release = await t.request("POST", `/v1/admin/orders/${ref}/release-hold`, {
      key: t.keys.admin,
      body: {},
    });
    expect(release.status).toBe(409);
    await reconcileClean();
  });

  it("refunds of an overpaid order are shared against the order total, not the overpayment", async () => {
    const ref = "ord_mm_over";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "200000"));
    expect(paid.status).toBe(200);
    // Paid 200,000 for a 170,000 order; refund 30,000: 30/170 of each settlement goes, not 30/200.
    const first = await t.webhook(refundEvent(ref, "rf_over_1", "30000"));
    expect(first.status).toBe(200);
    const left = (original: bigint) => remainingAfterRefunds(original, 170000n, 30000n);
    expect(await effective(ref)).toEqual([
      ["v_books", left(5000n), left(5000n), left(40000n)],
      ["v_games", left(14400n), left(9600n), left(96000n)],
    ]);
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select(["fiat_basis", "clawed_back_basis"])
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    expect(BigInt(reward.fiat_basis) - BigInt(reward.clawed_back_basis)).toBe(left(5000n) + left(9600n));
    await reconcileClean();

    // Refunds reaching the order total leave nothing of the settlements; the rest is the overpayment.
    const second = await t.webhook(refundEvent(ref, "rf_over_2", "140000"));
    expect(second.status).toBe(200);
    expect(await effective(ref)).toEqual([
      ["v_books", 0n, 0n, 0n],
      ["v_games", 0n, 0n, 0n],
    ]);
    const third = await t.webhook(refundEvent(ref, "rf_over_3", "30000"));
    expect(third.status).toBe(200);
    expect(third.body.status).toBe("refunded");
    expect(await effective(ref)).toEqual([
      ["v_books", 0n, 0n, 0n],
      ["v_games", 0n, 0n, 0n],
    ]);
    await reconcileClean();
  });

  it("refunds of an underpaid order are still shared against the amount paid", async () => {
    const ref = "ord_mm_short";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    await t.webhook(paidEvent(ref, "100000"));
    const refund = await t.webhook(refundEvent(ref, "rf_short_1", "100000"));
    expect(refund.status).toBe(200);
    expect(await effective(ref)).toEqual([
      ["v_books", 0n, 0n, 0n],
      ["v_games", 0n, 0n, 0n],
    ]);
    await reconcileClean();
  });
});
