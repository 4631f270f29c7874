import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * ATTRIBUTION_SCOPE=first_order pays once per BUYER, not once per open cart: checkout cannot know
 * which of a buyer's carts will be paid first, so the decision is made again at payment, atomically.
 */
describe(`first_order scope is decided at payment (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { ATTRIBUTION_SCOPE: "first_order" } });

  async function checkout(ref: string, buyer: string) {
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody(ref, { buyerMemberId: buyer }),
    });
    expect(res.status).toBe(201);
    // Every open cart is attributed at checkout: none of them is paid yet.
    expect(res.body.referralApplied).toBe(true);
    return res.body;
  }

  async function rails(ref: string) {
    const db = t.services.db;
    const order = await db
      .selectFrom("orders")
      .select(["referral_applied", "referrer_member_id", "referral_commission", "attribution_reason"])
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    const settlements = await db
      .selectFrom("settlements")
      .select(["vendor_id", "referral_commission", "net", "gross", "platform_fee"])
      .where("order_reference", "=", ref)
      .orderBy("vendor_id")
      .execute();
    const assists = await db
      .selectFrom("erp_sales_assists")
      .select("vendor_id")
      .where("order_reference", "=", ref)
      .execute();
    const rewards = await db
      .selectFrom("referral_rewards")
      .select("id")
      .where("order_reference", "=", ref)
      .execute();
    const lines = await sql<{ total: string }>`
      SELECT coalesce(sum(referral_commission), 0)::text AS total FROM order_lines WHERE order_reference = ${ref}`.execute(
      db,
    );
    const journal = await sql<{ total: string }>`
      SELECT coalesce(sum(amount), 0)::text AS total FROM journal_entries
       WHERE order_reference = ${ref} AND account = 'payable:referral_commission'`.execute(db);
    return {
      order,
      settlements,
      assists: assists.length,
      rewards: rewards.length,
      lineCommission: BigInt(lines.rows[0]!.total),
      journalCommission: BigInt(journal.rows[0]!.total),
    };
  }

  async function reconcileClean() {
    const report = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(report.status).toBe(200);
    expect(report.body.mismatches).toEqual([]);
  }

  it("a buyer's second cart, paid after the first, carries no referral on either rail", async () => {
    await checkout("ord_fo_a1", "m_fo_a");
    await checkout("ord_fo_a2", "m_fo_a");
    const first = await t.webhook(paidEvent("ord_fo_a1", "170000"));
    expect(first.status).toBe(200);
    expect(first.body.reward).not.toBeNull();

    const second = await t.webhook(paidEvent("ord_fo_a2", "170000"));
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ result: "recorded", settlements: 2, reward: null });
    expect(second.body.reason).toBe("not_first_order");

    const state = await rails("ord_fo_a2");
    expect(state.order).toEqual({
      referral_applied: false,
      referrer_member_id: null,
      referral_commission: 0n,
      attribution_reason: "not_first_order",
    });
    // Rail A without commission: the vendors keep it (net = gross − platform fee).
    expect(state.settlements.map((s) => [s.vendor_id, s.referral_commission, s.net])).toEqual([
      ["v_books", 0n, 45000n],
      ["v_games", 0n, 105600n],
    ]);
    expect(state.assists).toBe(0);
    expect(state.rewards).toBe(0);
    expect(state.lineCommission).toBe(0n);
    expect(state.journalCommission).toBe(0n);

    // The first one keeps both rails.
    const kept = await rails("ord_fo_a1");
    expect(kept.order.referral_applied).toBe(true);
    expect(kept.rewards).toBe(1);
    expect(kept.settlements.map((s) => s.referral_commission)).toEqual([5000n, 9600n]);

    // The checkout answer for the stored order says so too.
    const again = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_fo_a2", { buyerMemberId: "m_fo_a" }),
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ referralApplied: false, reason: "not_first_order" });
    expect(again.body.totals.referralCommission).toBe("0");
    await reconcileClean();
  });

  it("whichever cart is paid first is the first order, whatever the checkout order", async () => {
    await checkout("ord_fo_b1", "m_fo_b");
    await checkout("ord_fo_b2", "m_fo_b");
    const later = await t.webhook(paidEvent("ord_fo_b2", "170000"));
    expect(later.body.reward).not.toBeNull();
    const earlier = await t.webhook(paidEvent("ord_fo_b1", "170000"));
    expect(earlier.body.reward).toBeNull();
    expect((await rails("ord_fo_b1")).order.referral_applied).toBe(false);
    await reconcileClean();
  });

  it("three carts of one buyer paid at the same moment yield exactly one referred order", async () => {
    const refs = ["ord_fo_c1", "ord_fo_c2", "ord_fo_c3"];
    for (const ref of refs) await checkout(ref, "m_fo_c");
    const responses = await Promise.all(refs.map((ref) => t.webhook(paidEvent(ref, "170000"))));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(responses.filter((r) => r.body.reward !== null)).toHaveLength(1);
    const states = await Promise.all(refs.map(rails));
    expect(states.filter((s) => s.order.referral_applied)).toHaveLength(1);
    expect(states.reduce((sum, s) => sum + s.rewards, 0)).toBe(1);
    expect(states.reduce((sum, s) => sum + s.assists, 0)).toBe(2);
    const commissions = states.flatMap((s) => s.settlements.map((x) => x.referral_commission));
    expect(commissions.reduce((a, b) => a + b, 0n)).toBe(14600n);
    await reconcileClean();
  });

  it("three carts of one buyer carried in data.order and paid at the same moment: one referred order", async () => {
    const refs = ["ord_fo_d1", "ord_fo_d2", "ord_fo_d3"];
    const responses = await Promise.all(
      refs.map((ref) =>
        t.webhook(paidEvent(ref, "170000", { order: orderBody(ref, { buyerMemberId: "m_fo_d" }) })),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(responses.filter((r) => r.body.reward !== null)).toHaveLength(1);
    const states = await Promise.all(refs.map(rails));
    expect(states.filter((s) => s.order.referral_applied)).toHaveLength(1);
    await reconcileClean();
  });

  it("a duplicate delivery of the first order's payment does not cost it its referral", async () => {
    await checkout("ord_fo_e1", "m_fo_e");
    const event = paidEvent("ord_fo_e1", "170000");
    const responses = await Promise.all(Array.from({ length: 5 }, () => t.webhook(event)));
    expect(responses.filter((r) => r.body.result === "recorded")).toHaveLength(1);
    const state = await rails("ord_fo_e1");
    expect(state.order.referral_applied).toBe(true);
    expect(state.rewards).toBe(1);
  });
});

describe(`window scope still pays every order in the window (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { ATTRIBUTION_SCOPE: "window" } });

  it("two carts of one buyer paid one after the other are both rewarded", async () => {
    for (const ref of ["ord_w_1", "ord_w_2"]) {
      const created = await t.request("POST", "/v1/orders", {
        key: t.keys.integration,
        body: orderBody(ref, { buyerMemberId: "m_w" }),
      });
      expect(created.status).toBe(201);
    }
    const a = await t.webhook(paidEvent("ord_w_1", "170000"));
    const b = await t.webhook(paidEvent("ord_w_2", "170000"));
    expect(a.body.reward).not.toBeNull();
    expect(b.body.reward).not.toBeNull();
  });
});
