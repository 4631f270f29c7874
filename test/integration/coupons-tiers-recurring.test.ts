import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { transactionStats } from "../../src/db/transaction.js";
import { reconcile } from "../../src/ledger/reconcile.js";
import { signCookieValue } from "../../src/lib/cookies.js";
import { orderBody, paidEvent, TEST_DB, type TestInstance, useTestInstance } from "../support/harness.js";

/**
 * Issue 14: coupons tied to a referrer, commission tiers, recurring membership rewards — on both rails,
 * with reconcile clean after each flow.
 */

async function clean(t: TestInstance) {
  const report = await reconcile(t.services.db, t.services.chain);
  expect(report.mismatches).toEqual([]);
}

const cookieFor = (t: TestInstance, code: string) =>
  `tw_ref=${encodeURIComponent(signCookieValue(t.services.config.secrets.cookie, code, new Date()))}`;

async function member(t: TestInstance, memberId: string, extra: Record<string, unknown> = {}) {
  const res = await t.request("POST", "/v1/members", {
    key: t.keys.integration,
    body: { memberId, ...extra },
  });
  expect([200, 201]).toContain(res.status);
}

async function coupon(t: TestInstance, memberId: string, body: Record<string, unknown>) {
  const res = await t.request("POST", `/v1/members/${memberId}/coupons`, { key: t.keys.integration, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { code: string; redemptions: number };
}

/** Rows of the tables a refused request must not touch. */
async function tableCounts(t: TestInstance) {
  const result = await sql<Record<string, string>>`
    SELECT (SELECT count(*) FROM coupons)::text AS coupons, (SELECT count(*) FROM orders)::text AS orders,
           (SELECT coalesce(sum(redemptions), 0) FROM coupons)::text AS redemptions,
           (SELECT count(*) FROM commission_tiers)::text AS tiers, (SELECT count(*) FROM member_tiers)::text AS member_tiers,
           (SELECT count(*) FROM membership_payments)::text AS memberships`.execute(t.services.db);
  return result.rows[0];
}

describe(`coupons, tiers and recurring rewards (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { RECURRING_MONTHS: "12" } });

  it("creates, normalizes, lists and deactivates coupons; names are unique across referral and coupon codes", async () => {
    await member(t, "m_cara", { displayName: "Cara" });
    const created = await coupon(t, "m_cara", { code: " summer-10 ", discountBps: 1000, maxRedemptions: 5 });
    expect(created).toMatchObject({
      code: "SUMMER-10",
      memberId: "m_cara",
      discountBps: 1000,
      redemptions: 0,
    });
    // A referral code's name is taken for coupons, and a coupon's for referral codes.
    const clash = await t.request("POST", "/v1/members/m_cara/coupons", {
      key: t.keys.integration,
      body: { code: "anna7f3k" },
    });
    expect(clash.status).toBe(409);
    expect(clash.body.code).toBe("code_taken");
    const vanity = await t.request("POST", "/v1/members/m_cara/code", {
      key: t.keys.integration,
      body: { vanity: "summer-10" },
    });
    expect(vanity.status).toBe(409);
    const random = await coupon(t, "m_cara", {});
    expect(random.code).toMatch(/^[A-Z0-9]{8}$/);
    const list = await t.request("GET", "/v1/members/m_cara/coupons", { key: t.keys.integration });
    expect(list.body.items.map((c: { code: string }) => c.code).sort()).toEqual(
      [random.code, "SUMMER-10"].sort(),
    );
    const off = await t.request("POST", `/v1/members/m_cara/coupons/${random.code}/deactivate`, {
      key: t.keys.integration,
    });
    expect(off.body).toMatchObject({ code: random.code, active: false });
    const mine = await t.request("GET", "/v1/me/coupons", { key: t.memberToken("m_cara") });
    expect(mine.body.items).toHaveLength(2);
  });

  it("refuses bad coupon, tier and renewal input with 4xx problem+json and changes nothing", async () => {
    const before = await tableCounts(t);
    const cases: Array<[string, string, unknown, string, number]> = [
      ["POST", "/v1/members/m_cara/coupons", { code: "Ａ\u200bB" }, t.keys.integration, 400],
      ["POST", "/v1/members/m_cara/coupons", { discountBps: 10_001 }, t.keys.integration, 400],
      [
        "POST",
        "/v1/members/m_cara/coupons",
        { discountBps: 10, discountAmount: "5", currency: "UAH" },
        t.keys.integration,
        400,
      ],
      ["POST", "/v1/members/m_cara/coupons", { discountAmount: "500" }, t.keys.integration, 400],
      ["POST", "/v1/members/m_cara/coupons", { expiresAt: "2001-01-01T00:00:00Z" }, t.keys.integration, 400],
      ["POST", "/v1/members/m_cara/coupons", { maxRedemptions: 0 }, t.keys.integration, 400],
      ["POST", "/v1/members/m_cara/coupons", { surprise: true }, t.keys.integration, 400],
      ["POST", "/v1/members/m_nobody/coupons", { code: "NOBODY1" }, t.keys.integration, 404],
      ["PUT", "/v1/admin/tiers/VIP", { commissionBps: 100 }, t.keys.admin, 400],
      ["PUT", "/v1/admin/tiers/vip", { commissionBps: 5001 }, t.keys.admin, 400],
      ["PUT", "/v1/admin/tiers/vip", { commissionBps: 100, vendorId: "v_unknown" }, t.keys.admin, 422],
      ["PUT", "/v1/admin/members/m_cara/tier", { tier: "Not A Tier" }, t.keys.admin, 400],
      ["PUT", "/v1/admin/members/m_nobody/tier", { tier: "vip" }, t.keys.admin, 404],
      ["POST", "/v1/orders", orderBody("ord_bad_coupon", { couponCode: 7 }), t.keys.integration, 400],
    ];
    for (const [method, path, body, key, status] of cases) {
      const res = await t.request(method, path, { key, body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    const renewal = await t.webhook({
      type: "membership.paid",
      data: {
        memberId: "m_cara",
        membershipReference: "mem_none",
        period: 0,
        amountPaid: "1",
        currency: "UAH",
        paidAt: new Date().toISOString(),
      },
    });
    expect(renewal.status).toBe(400);
    const orphan = await t.webhook({
      type: "membership.paid",
      data: {
        memberId: "m_cara",
        membershipReference: "mem_none",
        period: 2,
        amountPaid: "1",
        currency: "UAH",
        paidAt: new Date().toISOString(),
      },
    });
    expect(orphan.status).toBe(422);
    expect(await tableCounts(t)).toEqual(before);
  });

  it("coupon wins over the first-touch cookie for the order (default), referredBy stays the cookie's", async () => {
    await member(t, "m_dan", { displayName: "Dan" });
    const { code } = await coupon(t, "m_dan", { code: "DAN-SAVE", discountBps: 1000 });
    // Anna's cookie, Dan's coupon: Dan is credited; the commission is on the discounted base.
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      headers: { cookie: cookieFor(t, "ANNA7F3K") },
      body: orderBody("ord_cpn_1", { refCode: null, couponCode: "dan-save", discountAmount: "17000" }),
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      referralApplied: true,
      referralCode: code,
      attributionSource: "coupon",
      coupon: { code, status: "redeemed" },
      referrer: { displayName: "Dan" },
    });
    // Books 50000 × 10 % (product) and games 120000 × 8 % (vendor), less the 17000 discount spread pro rata.
    const lines = await t.services.db
      .selectFrom("order_lines")
      .select(["commission_base", "referral_commission"])
      .where("order_reference", "=", "ord_cpn_1")
      .orderBy("position")
      .execute();
    expect(lines.map((l) => l.commission_base)).toEqual([45000n, 108000n]);
    expect(res.body.totals.referralCommission).toBe(String(4500 + 8640));
    const buyer = await t.services.db
      .selectFrom("members")
      .select(["referred_by_member_id", "attribution_source"])
      .where("member_id", "=", "m_buyer_ord_cpn_1")
      .executeTakeFirstOrThrow();
    expect(buyer).toEqual({ referred_by_member_id: "m_anna", attribution_source: "cookie" });
    const paid = await t.webhook(paidEvent("ord_cpn_1", "153000"));
    expect(paid.body.result).toBe("recorded");
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select(["referrer_member_id", "fiat_basis"])
      .where("order_reference", "=", "ord_cpn_1")
      .executeTakeFirstOrThrow();
    expect(reward).toEqual({ referrer_member_id: "m_dan", fiat_basis: 13140n });
    // The same body again answers the same.
    const again = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      headers: { cookie: cookieFor(t, "ANNA7F3K") },
      body: orderBody("ord_cpn_1", { refCode: null, couponCode: "dan-save", discountAmount: "17000" }),
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ attributionSource: "coupon", coupon: { code, status: "redeemed" } });
    await clean(t);
  });

  it("a checkout with a coupon costs the same statements as one without (no extra round trip)", async () => {
    await member(t, "m_stmt");
    await coupon(t, "m_stmt", { code: "STMT-CPN" });
    const counted = async (body: unknown) => {
      const before = transactionStats.statements;
      const res = await t.request("POST", "/v1/orders", { key: t.keys.integration, body });
      expect(res.status).toBe(201);
      return transactionStats.statements - before;
    };
    const plain = await counted(orderBody("ord_stmt_plain"));
    const withCoupon = await counted(orderBody("ord_stmt_coupon", { refCode: null, couponCode: "STMT-CPN" }));
    console.info(`checkout statements: ${plain} without a coupon, ${withCoupon} with one`);
    expect(withCoupon).toBe(plain);
  });

  it("refuses a coupon of the buyer's own (no credit, no redemption)", async () => {
    await member(t, "m_eve", { walletAddress: "0x1111111111111111111111111111111111111111" });
    await coupon(t, "m_eve", { code: "EVE-SELF", maxRedemptions: 3 });
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_self", { refCode: null, buyerMemberId: "m_eve", couponCode: "EVE-SELF" }),
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      referralApplied: false,
      reason: "self_referral",
      attributionSource: null,
      coupon: { code: "EVE-SELF", status: "self_referral" },
    });
    // The same wallet under another member id is the same person.
    await member(t, "m_eve_alt", { walletAddress: "0x1111111111111111111111111111111111111111" });
    const alt = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_self_alt", { refCode: null, buyerMemberId: "m_eve_alt", couponCode: "EVE-SELF" }),
    });
    expect(alt.body).toMatchObject({ referralApplied: false, coupon: { status: "self_referral" } });
    const row = await t.services.db
      .selectFrom("coupons")
      .select("redemptions")
      .where("code", "=", "EVE-SELF")
      .executeTakeFirstOrThrow();
    expect(row.redemptions).toBe(0);
    await t.webhook(paidEvent("ord_self", "170000"));
    expect(
      await t.services.db
        .selectFrom("referral_rewards")
        .select("id")
        .where("order_reference", "=", "ord_self")
        .execute(),
    ).toEqual([]);
    await clean(t);
  });

  it("50 concurrent checkouts of a coupon with maxRedemptions 10 redeem exactly 10", async () => {
    await member(t, "m_fay");
    await coupon(t, "m_fay", { code: "FAY-TEN", maxRedemptions: 10 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        t.request("POST", "/v1/orders", {
          key: t.keys.integration,
          body: orderBody(`ord_race_${i}`, { refCode: null, couponCode: "FAY-TEN" }),
        }),
      ),
    );
    expect(results.map((r) => r.status).every((s) => s === 201)).toBe(true);
    const statuses = results.map((r) => r.body.coupon.status);
    expect(statuses.filter((s) => s === "redeemed")).toHaveLength(10);
    expect(statuses.filter((s) => s === "coupon_exhausted")).toHaveLength(40);
    expect(results.filter((r) => r.body.attributionSource === "coupon")).toHaveLength(10);
    const row = await t.services.db
      .selectFrom("coupons")
      .select("redemptions")
      .where("code", "=", "FAY-TEN")
      .executeTakeFirstOrThrow();
    expect(row.redemptions).toBe(10);
    const stored = await t.services.db
      .selectFrom("orders")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("coupon_code", "=", "FAY-TEN")
      .where("coupon_status", "=", "redeemed")
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(10);
    if (TEST_DB === "postgres") {
      // It really raced: some checkouts read "redemptions < 10" and were refused by the conditional update.
      const retried = await sql<{ n: string }>`
        SELECT count(*)::text AS n FROM audit_log
         WHERE action = 'order.created' AND subject_id LIKE 'ord_race_%' AND (after->>'couponRetried') = 'true'`.execute(
        t.services.db,
      );
      console.info(`coupon race: ${retried.rows[0]!.n} of 40 refusals came from the conditional update`);
      expect(Number(retried.rows[0]!.n)).toBeGreaterThan(0);
    }
    await clean(t);
  });

  it("a tier prices new orders: the snapshot survives a tier change between checkout and payment", async () => {
    await member(t, "m_gil", { displayName: "Gil" });
    const rate = await t.request("PUT", "/v1/admin/tiers/vip", {
      key: t.keys.admin,
      body: { commissionBps: 2000 },
    });
    expect(rate.status).toBe(200);
    const games = await t.request("PUT", "/v1/admin/tiers/vip", {
      key: t.keys.admin,
      body: { commissionBps: 1500, vendorId: "v_games" },
    });
    expect(games.body).toMatchObject({ tier: "vip", vendorId: "v_games", commissionBps: 1500 });
    const set = await t.request("PUT", "/v1/admin/members/m_gil/tier", {
      key: t.keys.admin,
      body: { tier: "vip" },
    });
    expect(set.body).toMatchObject({
      tier: "vip",
      commissionBps: 2000,
      vendors: [{ vendorId: "v_games", tier: "vip", commissionBps: 1500 }],
    });
    const seen = await t.request("GET", "/v1/me/tier", { key: t.memberToken("m_gil") });
    expect(seen.body).toMatchObject({ tier: "vip", commissionBps: 2000 });
    const code = await t.request("POST", "/v1/members/m_gil/code", {
      key: t.keys.integration,
      body: { vanity: "GILVIP" },
    });
    expect(code.status).toBe(201);
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_tier", { refCode: "GILVIP" }),
    });
    // Books: the product override (10 %) beats the tier; games: the tier's games rate (15 %) beats the vendor's 8 %.
    expect(res.body.lines).toEqual([
      { lineId: "l1", commissionBps: 1000, rateSource: "product" },
      { lineId: "l2", commissionBps: 1500, rateSource: "tier", rateTier: "vip" },
    ]);
    // Tier change and demotion after checkout: the order keeps its snapshot.
    await t.request("PUT", "/v1/admin/tiers/vip", {
      key: t.keys.admin,
      body: { commissionBps: 100, vendorId: "v_games" },
    });
    await t.request("PUT", "/v1/admin/members/m_gil/tier", { key: t.keys.admin, body: { tier: null } });
    const paid = await t.webhook(paidEvent("ord_tier", "170000"));
    expect(paid.body.result).toBe("recorded");
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select("fiat_basis")
      .where("order_reference", "=", "ord_tier")
      .executeTakeFirstOrThrow();
    expect(reward.fiat_basis).toBe(5000n + 18000n);
    const settled = await t.services.db
      .selectFrom("settlements")
      .select(["vendor_id", "referral_commission"])
      .where("order_reference", "=", "ord_tier")
      .orderBy("vendor_id")
      .execute();
    expect(settled).toEqual([
      { vendor_id: "v_books", referral_commission: 5000n },
      { vendor_id: "v_games", referral_commission: 18000n },
    ]);
    // A new order after the demotion pays the vendor's rate again.
    const later = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_tier_after", { refCode: "GILVIP" }),
    });
    expect(later.body.lines[1]).toEqual({
      lineId: "l2",
      commissionBps: 800,
      rateSource: "vendor",
    });
    await clean(t);
  });

  it("three renewals pay three rewards; a refund of the second renewal claws back that one only", async () => {
    await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_club2", refCode: "ANNA7F3K" },
    });
    const start = Date.now() - 95 * 86_400_000; // renewals are judged by RECURRING_MONTHS, not the attribution window
    const pay = (period: number, days: number) =>
      t.webhook({
        type: "membership.paid",
        data: {
          memberId: "m_club2",
          membershipReference: "mem_club2",
          ...(period > 1 ? { period } : {}),
          amountPaid: "30000",
          currency: "UAH",
          paidAt: new Date(start + days * 86_400_000).toISOString(),
        },
      });
    const first = await pay(1, 0);
    expect(first.body.reward).not.toBeNull();
    for (const period of [2, 3, 4]) {
      const renewal = await pay(period, (period - 1) * 30);
      expect(renewal.status).toBe(200);
      expect(renewal.body).toMatchObject({ result: "recorded", paymentReference: `mem_club2#${period}` });
      expect(renewal.body.reward).toMatchObject({ amountWei: expect.any(String) });
      await clean(t);
    }
    expect((await pay(3, 60)).body.result).toBe("duplicate");
    const rewards = await t.services.db
      .selectFrom("referral_rewards")
      .select(["order_reference", "referrer_member_id", "fiat_basis"])
      .where("order_reference", "like", "mem_club2%")
      .orderBy("order_reference")
      .execute();
    expect(rewards).toEqual(
      ["mem_club2", "mem_club2#2", "mem_club2#3", "mem_club2#4"].map((ref) => ({
        order_reference: ref,
        referrer_member_id: "m_anna",
        fiat_basis: 3000n,
      })),
    );
    // Paid out on chain, then the second renewal (period 3) is refunded in two parts: clawback debt for
    // that period's reward only.
    const ids = (
      await t.services.db
        .selectFrom("referral_rewards")
        .select("id")
        .where("order_reference", "like", "mem_club2%")
        .execute()
    ).map((r) => r.id.toString());
    const approve = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids },
    });
    expect(approve.body.approved).toHaveLength(4);
    expect((await t.services.minter.runOnce()).status).toBe("confirmed");
    await clean(t);
    const refund = (refundId: string, amount: string) =>
      t.webhook({
        type: "membership.refunded",
        data: {
          membershipReference: "mem_club2",
          period: 3,
          refundId,
          amountRefunded: amount,
          refundedAt: new Date().toISOString(),
        },
      });
    expect((await refund("rf_1", "10000")).body.reward).toMatchObject({ change: "clawback" });
    await clean(t);
    expect((await refund("rf_1", "10000")).body.result).toBe("duplicate");
    expect((await refund("rf_2", "20001")).status).toBe(422);
    expect((await refund("rf_2", "20000")).body.reward).toMatchObject({ change: "clawback" });
    await clean(t);
    const after = await t.services.db
      .selectFrom("referral_rewards")
      .select(["order_reference", "status", "clawed_back_basis"])
      .where("order_reference", "like", "mem_club2%")
      .orderBy("order_reference")
      .execute();
    expect(after.map((r) => [r.order_reference, r.status, r.clawed_back_basis])).toEqual([
      ["mem_club2", "minted", 0n],
      ["mem_club2#2", "minted", 0n],
      ["mem_club2#3", "minted", 3000n],
      ["mem_club2#4", "minted", 0n],
    ]);
    const debts = await t.services.db
      .selectFrom("clawbacks")
      .select(["order_reference", "amount_wei"])
      .where("kind", "=", "debt")
      .where("order_reference", "like", "mem_club2%")
      .execute();
    expect(debts.map((d) => d.order_reference)).toEqual(["mem_club2#3", "mem_club2#3"]);
    // Reconcile sees a period whose refunds and reward disagree.
    const db = t.services.db;
    await sql`UPDATE membership_payments SET amount_refunded = 10000 WHERE membership_reference = 'mem_club2#3'`.execute(
      db,
    );
    const broken = await reconcile(db, t.services.chain);
    expect(broken.mismatches.map((m) => [m.check, m.subject])).toEqual([
      ["memberships", "membership mem_club2#3"],
      ["memberships", "membership mem_club2#3"],
    ]);
    await sql`UPDATE membership_payments SET amount_refunded = 30000 WHERE membership_reference = 'mem_club2#3'`.execute(
      db,
    );
    await clean(t);
    // Beyond RECURRING_MONTHS (12) of period 1: recorded, not rewarded.
    const late = await pay(14, 400);
    expect(late.body).toMatchObject({ result: "recorded", reward: null, reason: "recurring_window_closed" });
    await clean(t);
  });

  it("renewals are not rewarded when period 1 was not (unreferred) or its reward was rejected", async () => {
    const paidEvent1 = (memberId: string, ref: string, period?: number) =>
      t.webhook({
        type: "membership.paid",
        data: {
          memberId,
          membershipReference: ref,
          ...(period ? { period } : {}),
          amountPaid: "30000",
          currency: "UAH",
          paidAt: new Date().toISOString(),
        },
      });
    await member(t, "m_solo");
    expect((await paidEvent1("m_solo", "mem_solo")).body).toMatchObject({
      reward: null,
      reason: "not_referred",
    });
    expect((await paidEvent1("m_solo", "mem_solo", 2)).body).toMatchObject({
      reward: null,
      reason: "first_payment_not_rewarded",
    });
    // A referrer without clawback debt (Anna's would net the new reward away before it can be rejected).
    await member(t, "m_ref3", { walletAddress: "0x3333333333333333333333333333333333333333" });
    await t.request("POST", "/v1/members/m_ref3/code", {
      key: t.keys.integration,
      body: { vanity: "REF3CODE" },
    });
    await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_club3", refCode: "REF3CODE" },
    });
    const first = await paidEvent1("m_club3", "mem_club3");
    const rejected = await t.request("POST", "/v1/admin/rewards/reject", {
      key: t.keys.admin,
      body: { ids: [first.body.reward.id], reason: "test: fraud" },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body, JSON.stringify(rejected.body)).toMatchObject({ rejected: [first.body.reward.id] });
    expect((await paidEvent1("m_club3", "mem_club3", 2)).body).toMatchObject({
      reward: null,
      reason: "first_payment_not_rewarded",
    });
    // Another member cannot renew someone else's membership.
    expect((await paidEvent1("m_solo", "mem_club3", 3)).status).toBe(409);
    await clean(t);
  });
});

describe(`COUPON_PRECEDENCE=referrer (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { COUPON_PRECEDENCE: "referrer" } });

  it("the first-touch cookie keeps the order; the coupon is still redeemed; without a cookie the coupon credits", async () => {
    await member(t, "m_hal", { displayName: "Hal" });
    await coupon(t, "m_hal", { code: "HAL-SAVE", maxRedemptions: 5 });
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      headers: { cookie: cookieFor(t, "ANNA7F3K") },
      body: orderBody("ord_prec_1", { refCode: null, couponCode: "HAL-SAVE" }),
    });
    expect(res.body).toMatchObject({
      referralApplied: true,
      referralCode: "ANNA7F3K",
      attributionSource: "cookie",
      coupon: { code: "HAL-SAVE", status: "redeemed" },
    });
    const plain = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_prec_2", { refCode: null, couponCode: "HAL-SAVE" }),
    });
    expect(plain.body).toMatchObject({ referralCode: "HAL-SAVE", attributionSource: "coupon" });
    for (const ref of ["ord_prec_1", "ord_prec_2"]) {
      expect((await t.webhook(paidEvent(ref, "170000"))).body.result).toBe("recorded");
    }
    const rewards = await t.services.db
      .selectFrom("referral_rewards")
      .select(["order_reference", "referrer_member_id"])
      .where("order_reference", "in", ["ord_prec_1", "ord_prec_2"])
      .orderBy("order_reference")
      .execute();
    expect(rewards.map((r) => r.referrer_member_id)).toEqual(["m_anna", "m_hal"]);
    const row = await t.services.db
      .selectFrom("coupons")
      .select("redemptions")
      .where("code", "=", "HAL-SAVE")
      .executeTakeFirstOrThrow();
    expect(row.redemptions).toBe(2);
    await clean(t);
  });
});
