import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SYSTEM } from "../../src/ledger/audit.js";
import { createOrder } from "../../src/ledger/create-order.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

const DAY_MS = 86_400_000;
const WALLET_A = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

function setCookies(res: { headers: Headers }): string[] {
  return res.headers.getSetCookie();
}
function cookieHeader(res: { headers: Headers }): string {
  return setCookies(res)
    .map((c) => c.split(";")[0])
    .join("; ");
}

describe(`attribution rules (${TEST_DB})`, () => {
  let t: TestInstance;
  let key: string;
  const member = (body: Record<string, unknown>) => t.request("POST", "/v1/members", { key, body });
  const newCode = async (memberId: string, body: Record<string, unknown> = {}) =>
    t.request("POST", `/v1/members/${memberId}/code`, { key, body });

  beforeAll(async () => {
    t = await startTestInstance({ RATE_LIMIT_PUBLIC: "0", ATTRIBUTION_CAP_PER_IP_DAY: "2" });
    key = t.keys.integration;
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("codes", () => {
    it("keeps one active code per member: asking again returns the same code", async () => {
      await member({ memberId: "m_codes" });
      const first = await newCode("m_codes");
      expect(first.status).toBe(201);
      expect(first.body.code).toMatch(/^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$/);
      const again = await newCode("m_codes");
      expect(again.status).toBe(200);
      expect(again.body.code).toBe(first.body.code);
      const active = await t.services.db
        .selectFrom("referral_codes")
        .select("code")
        .where("owner_member_id", "=", "m_codes")
        .where("active", "=", true)
        .execute();
      expect(active).toHaveLength(1);
    });

    it("normalizes a vanity code and refuses one that is taken (unique index, 409 code_taken)", async () => {
      await member({ memberId: "m_vanity" });
      const claimed = await newCode("m_vanity", { vanity: "  ｖａｎｉｔｙ-1 " });
      expect(claimed.status).toBe(201);
      expect(claimed.body.code).toBe("VANITY-1");
      await member({ memberId: "m_vanity2" });
      const taken = await newCode("m_vanity2", { vanity: "vanity-1" });
      expect(taken.status).toBe(409);
      expect(taken.body.code).toBe("code_taken");
    });

    it("settles racing vanity claims by the unique index: exactly one of 10 members gets the code", async () => {
      const ids = Array.from({ length: 10 }, (_, i) => `m_race_vanity_${i}`);
      for (const id of ids) await member({ memberId: id });
      const results = await Promise.all(ids.map((id) => newCode(id, { vanity: "RACECODE" })));
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      expect(results.filter((r) => r.status === 409)).toHaveLength(9);
    });

    it("rotates: the old code stops resolving for new visitors but keeps its past attributions", async () => {
      await member({ memberId: "m_rot", displayName: "Rot" });
      const old = (await newCode("m_rot")).body.code as string;
      const friend = await member({ memberId: "m_rot_friend", refCode: old });
      expect(friend.body.attribution).toEqual({ applied: true });
      const rotated = await newCode("m_rot", { rotate: true });
      expect(rotated.status).toBe(201);
      expect(rotated.body.code).not.toBe(old);

      // New signups with the old code: inactive_code. The old link sets no cookie.
      const late = await member({ memberId: "m_rot_late", refCode: old });
      expect(late.body.attribution).toEqual({ applied: false, reason: "inactive_code" });
      const link = await t.request("GET", `/r/${old}`);
      expect(setCookies(link)).toEqual([]);

      // The friend attributed through the old code still converts for the referrer.
      const order = await t.request("POST", "/v1/orders", {
        key,
        body: orderBody("ord_rot", { buyerMemberId: "m_rot_friend", refCode: null }),
      });
      expect(order.body).toMatchObject({
        referralApplied: true,
        referralCode: old,
        referrer: { displayName: "Rot" },
      });
    });
  });

  describe("signup attribution (POST /v1/members)", () => {
    it("answers every refusal with its reason and keeps first touch", async () => {
      await member({ memberId: "m_ref1", walletAddress: "0x1111111111111111111111111111111111111111" });
      const code1 = (await newCode("m_ref1")).body.code as string;
      await member({ memberId: "m_ref2" });
      const code2 = (await newCode("m_ref2")).body.code as string;

      expect((await member({ memberId: "m_s1", refCode: "NOPE2345" })).body.attribution).toEqual({
        applied: false,
        reason: "unknown_code",
      });
      expect((await member({ memberId: "m_ref1", refCode: code1 })).body.attribution).toEqual({
        applied: false,
        reason: "self_referral",
      });
      const sameWallet = await member({
        memberId: "m_s2",
        walletAddress: "0x1111111111111111111111111111111111111111",
        refCode: code1,
      });
      expect(sameWallet.body.attribution).toEqual({ applied: false, reason: "self_referral" });

      const first = await member({ memberId: "m_s3", refCode: code1 });
      expect(first.status).toBe(201);
      expect(first.body.referredBy).toMatchObject({ code: code1, memberId: "m_ref1", source: "ref_code" });
      const second = await member({ memberId: "m_s3", refCode: code2 });
      expect(second.status).toBe(200);
      expect(second.body.attribution).toEqual({ applied: false, reason: "already_attributed" });
      expect(second.body.referredBy).toEqual(first.body.referredBy);
    });

    it("caps attributions per IP hash per day: 6 racing signups from one address, cap 2 → exactly 2", async () => {
      await member({ memberId: "m_capip" });
      const code = (await newCode("m_capip")).body.code as string;
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          member({ memberId: `m_capip_${i}`, refCode: code, clientIp: "203.0.113.7" }),
        ),
      );
      const reasons = results.map((r) => r.body.attribution.reason ?? "applied").sort();
      expect(reasons).toEqual([
        "applied",
        "applied",
        "cap_reached",
        "cap_reached",
        "cap_reached",
        "cap_reached",
      ]);
      // Another address is not capped; the raw address is never stored.
      const other = await member({ memberId: "m_capip_other", refCode: code, clientIp: "198.51.100.9" });
      expect(other.body.attribution).toEqual({ applied: true });
      const stored = await sql<{ n: bigint }>`
        SELECT count(*) AS n FROM members WHERE signup_ip_hash LIKE '%203.0.113.7%' OR signup_ip_hash IS NULL
          AND member_id LIKE 'm_capip_%'`.execute(t.services.db);
      expect(Number(stored.rows[0]?.n)).toBe(0);
    });

    it("caps attributions per referrer per month: 8 racing signups, cap 3 → exactly 3", async () => {
      const capped = await startTestInstance({
        RATE_LIMIT_PUBLIC: "0",
        ATTRIBUTION_CAP_PER_REFERRER_MONTH: "3",
      });
      try {
        const k = capped.keys.integration;
        await capped.request("POST", "/v1/members", { key: k, body: { memberId: "m_capref" } });
        const code = (await capped.request("POST", "/v1/members/m_capref/code", { key: k, body: {} })).body
          .code;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            capped.request("POST", "/v1/members", {
              key: k,
              body: { memberId: `m_capref_${i}`, refCode: code },
            }),
          ),
        );
        const applied = results.filter((r) => r.body.attribution.applied).length;
        const capReached = results.filter((r) => r.body.attribution.reason === "cap_reached").length;
        expect([applied, capReached]).toEqual([3, 5]);
      } finally {
        await capped.close();
      }
    });
  });

  describe("checkout (POST /v1/orders)", () => {
    it("prefers referredBy over an explicit code over the cookie", async () => {
      for (const id of ["m_p1", "m_p2", "m_p3"]) await member({ memberId: id, displayName: id });
      const [c1, c2, c3] = await Promise.all(
        ["m_p1", "m_p2", "m_p3"].map(async (id) => (await newCode(id)).body.code),
      );
      const link = await t.request("GET", `/r/${c3}`);
      const cookie = cookieHeader(link);
      await member({ memberId: "m_buyer_referred", refCode: c1 });

      const referred = await t.request("POST", "/v1/orders", {
        key,
        headers: { cookie },
        body: orderBody("ord_prio_1", { buyerMemberId: "m_buyer_referred", refCode: c2 }),
      });
      expect(referred.body).toMatchObject({ referralApplied: true, referralCode: c1 });
      const explicit = await t.request("POST", "/v1/orders", {
        key,
        headers: { cookie },
        body: orderBody("ord_prio_2", { buyerMemberId: "m_buyer_explicit", refCode: c2 }),
      });
      expect(explicit.body).toMatchObject({ referralApplied: true, referralCode: c2 });
      const viaCookie = await t.request("POST", "/v1/orders", {
        key,
        headers: { cookie },
        body: orderBody("ord_prio_3", { buyerMemberId: "m_buyer_cookie", refCode: null }),
      });
      expect(viaCookie.body).toMatchObject({ referralApplied: true, referralCode: c3 });
      const sources = await t.services.db
        .selectFrom("orders")
        .select(["order_reference", "attribution_source"])
        .where("order_reference", "in", ["ord_prio_1", "ord_prio_2", "ord_prio_3"])
        .orderBy("order_reference")
        .execute();
      expect(sources.map((s) => s.attribution_source)).toEqual(["referred_by", "explicit_code", "cookie"]);
    });

    it("refuses orders outside ATTRIBUTION_WINDOW_DAYS from attributed_at (reason expired)", async () => {
      await member({ memberId: "m_win_buyer", refCode: "ANNA7F3K" });
      const attributedAt = (
        await t.request("POST", "/v1/members", { key, body: { memberId: "m_win_buyer" } })
      ).body.referredBy.attributedAt as string;
      const window = t.services.config.ATTRIBUTION_WINDOW_DAYS;
      const inside = await createOrder(
        t.services.db,
        t.services.config,
        SYSTEM,
        orderInput("ord_win_in", "m_win_buyer"),
        {
          now: new Date(Date.parse(attributedAt) + window * DAY_MS - 60_000),
        },
      );
      expect(inside.referralApplied).toBe(true);
      const outside = await createOrder(
        t.services.db,
        t.services.config,
        SYSTEM,
        orderInput("ord_win_out", "m_win_buyer"),
        {
          now: new Date(Date.parse(attributedAt) + window * DAY_MS + 60_000),
        },
      );
      expect(outside).toMatchObject({ referralApplied: false, reason: "expired" });
    });

    it("scope first_order attributes only the first paid order; scope window attributes every one", async () => {
      await member({ memberId: "m_scope_buyer", refCode: "ANNA7F3K" });
      await t.request("POST", "/v1/orders", {
        key,
        body: orderBody("ord_scope_1", { buyerMemberId: "m_scope_buyer" }),
      });
      expect((await t.webhook(paidEvent("ord_scope_1", "170000"))).status).toBe(200);
      const second = await t.request("POST", "/v1/orders", {
        key,
        body: orderBody("ord_scope_2", { buyerMemberId: "m_scope_buyer" }),
      });
      expect(second.body).toMatchObject({ referralApplied: false, reason: "not_first_order" });

      const windowed = await startTestInstance({ RATE_LIMIT_PUBLIC: "0", ATTRIBUTION_SCOPE: "window" });
      try {
        await seedCatalog(windowed);
        const k = windowed.keys.integration;
        await windowed.request("POST", "/v1/members", {
          key: k,
          body: { memberId: "m_w", refCode: "ANNA7F3K" },
        });
        await windowed.request("POST", "/v1/orders", {
          key: k,
          body: orderBody("ord_w1", { buyerMemberId: "m_w" }),
        });
        await windowed.webhook(paidEvent("ord_w1", "170000"));
        const again = await windowed.request("POST", "/v1/orders", {
          key: k,
          body: orderBody("ord_w2", { buyerMemberId: "m_w" }),
        });
        expect(again.body).toMatchObject({ referralApplied: true, referralCode: "ANNA7F3K" });
      } finally {
        await windowed.close();
      }
    });
  });

  describe("links, cookies and the badge", () => {
    it("sets tw_ref (httpOnly, signed, SameSite=Lax, REF_COOKIE_DAYS) and a readable tw_ref_visible", async () => {
      const res = await t.request("GET", "/r/anna7f3k");
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(`${t.services.config.landingUrl}?ref=ANNA7F3K`);
      const [ref, visible] = setCookies(res);
      const maxAge = `Max-Age=${t.services.config.REF_COOKIE_DAYS * 86400}`;
      expect(ref).toMatch(/^tw_ref=ANNA7F3K\.[0-9a-z]+\.[A-Za-z0-9_-]{43};/);
      expect(ref).toContain(maxAge);
      expect(ref).toContain("HttpOnly");
      expect(ref).toContain("SameSite=Lax");
      expect(ref).not.toContain("Secure");
      expect(visible).toMatch(/^tw_ref_visible=ANNA7F3K;/);
      expect(visible).not.toContain("HttpOnly");
    });

    it("keeps the first touch: a second link with a valid cookie sets nothing", async () => {
      await member({ memberId: "m_second" });
      const second = (await newCode("m_second")).body.code;
      const first = await t.request("GET", "/r/ANNA7F3K");
      const again = await t.request("GET", `/r/${second}`, { headers: { cookie: cookieHeader(first) } });
      expect(again.status).toBe(302);
      expect(setCookies(again)).toEqual([]);
      const tracked = await t.request("POST", "/v1/track", {
        body: { code: second },
        headers: { cookie: cookieHeader(first) },
      });
      expect(tracked.status).toBe(204);
      expect(setCookies(tracked)).toEqual([]);
    });

    it("marks the cookie Secure behind HTTPS only when TRUST_PROXY lets X-Forwarded-Proto count", async () => {
      const spoofed = await t.request("GET", "/r/ANNA7F3K", { headers: { "x-forwarded-proto": "https" } });
      expect(setCookies(spoofed).every((c) => !c.includes("Secure"))).toBe(true);
      const proxied = await startTestInstance({ RATE_LIMIT_PUBLIC: "0", TRUST_PROXY: "loopback" });
      try {
        await seedCatalog(proxied);
        const res = await proxied.request("GET", "/r/ANNA7F3K", {
          headers: { "x-forwarded-proto": "https" },
        });
        expect(setCookies(res)).toHaveLength(2);
        expect(setCookies(res).every((c) => c.includes("Secure"))).toBe(true);
      } finally {
        await proxied.close();
      }
    });

    it("answers the badge from ?code= or the signed cookie (GET /v1/referral)", async () => {
      expect((await t.request("GET", "/v1/referral?code=anna7f3k")).body).toEqual({
        applied: true,
        code: "ANNA7F3K",
        referrer: { displayName: "Anna" },
      });
      const link = await t.request("GET", "/r/ANNA7F3K");
      expect(
        (await t.request("GET", "/v1/referral", { headers: { cookie: cookieHeader(link) } })).body,
      ).toMatchObject({
        applied: true,
        code: "ANNA7F3K",
      });
      expect((await t.request("GET", "/v1/referral?code=NOPE2345")).body).toEqual({
        applied: false,
        code: null,
        referrer: null,
      });
    });
  });

  describe("fraud signals and stats (admin)", () => {
    it("shows computed fraud signals per reward beside stored ones, and rejects nothing by itself", async () => {
      await member({
        memberId: "m_fraud_ref",
        displayName: "F",
        walletAddress: "0x2222222222222222222222222222222222222222",
        clientIp: "192.0.2.44",
      });
      const code = (await newCode("m_fraud_ref")).body.code;
      // Another member registers the referrer's payout wallet.
      await member({ memberId: "m_fraud_twin", walletAddress: "0x2222222222222222222222222222222222222222" });
      // The buyer orders from the referrer's address seconds after its account exists.
      await t.request("POST", "/v1/orders", {
        key,
        body: orderBody("ord_fraud", {
          buyerMemberId: "m_fraud_buyer",
          refCode: code,
          clientIp: "192.0.2.44",
        }),
      });
      await t.webhook(paidEvent("ord_fraud", "170000"));
      await sql`UPDATE referral_rewards SET fraud_signals = ${JSON.stringify([{ code: "amount_mismatch", detail: "stored" }])}::jsonb
        WHERE order_reference = 'ord_fraud'`.execute(t.services.db);

      const list = await t.request("GET", "/v1/admin/rewards?referrer=m_fraud_ref", { key: t.keys.admin });
      expect(list.status).toBe(200);
      const reward = list.body.items[0];
      expect(reward.status).toBe("pending_approval");
      expect(reward.fraudSignals.map((s: { code: string }) => s.code).sort()).toEqual([
        "amount_mismatch",
        "new_account_instant_purchase",
        "shared_ip",
        "shared_wallet",
      ]);
      for (const signal of reward.fraudSignals) expect(typeof signal.detail).toBe("string");

      // A clean reward has no signals: different address, an older account, an unshared wallet.
      const clean = await t.request("GET", "/v1/admin/rewards?referrer=m_anna", { key: t.keys.admin });
      const cleanCodes = clean.body.items.flatMap((r: { fraudSignals: Array<{ code: string }> }) =>
        r.fraudSignals.map((s) => s.code),
      );
      expect(cleanCodes).not.toContain("shared_ip");
      expect(cleanCodes).not.toContain("shared_wallet");
    });

    it("flags velocity over cap when a referrer's attributed orders in 24 h exceed the threshold", async () => {
      await member({ memberId: "m_fast" });
      const code = (await newCode("m_fast")).body.code;
      for (let i = 0; i < 22; i += 1) {
        await t.request("POST", "/v1/orders", { key, body: orderBody(`ord_fast_${i}`, { refCode: code }) });
      }
      await t.webhook(paidEvent("ord_fast_21", "170000"));
      const list = await t.request("GET", "/v1/admin/rewards?referrer=m_fast", { key: t.keys.admin });
      expect(list.body.items[0].fraudSignals.map((s: { code: string }) => s.code)).toContain(
        "velocity_over_cap",
      );
    });

    it("reports the funnel, rails and top referrers on GET /v1/admin/stats (admin only)", async () => {
      await t.request("GET", "/r/ANNA7F3K");
      await t.services.visits!.flush();
      const stats = await t.request("GET", "/v1/admin/stats", { key: t.keys.admin });
      expect(stats.status).toBe(200);
      const { funnel, rails, topReferrers } = stats.body;
      expect(funnel.visits).toBeGreaterThan(0);
      expect(funnel.signups).toBeGreaterThan(0);
      expect(funnel.orders).toBeGreaterThanOrEqual(funnel.paidOrders);
      expect(funnel.paidOrders).toBeGreaterThan(0);
      expect(funnel.rewards).toBe(funnel.paidOrders);
      expect(funnel.minted).toBe(0);
      expect(rails.fiat[0]).toMatchObject({ currency: "UAH" });
      expect(BigInt(rails.fiat[0].referralCommission)).toBeGreaterThan(0n);
      expect(topReferrers.length).toBeGreaterThan(0);
      expect(topReferrers[0]).toHaveProperty("memberId");

      const empty = await t.request("GET", "/v1/admin/stats?from=2001-01-01&to=2001-02-01", {
        key: t.keys.admin,
      });
      expect(empty.body.funnel).toMatchObject({ visits: 0, signups: 0, orders: 0, rewards: 0, minted: 0 });
      expect((await t.request("GET", "/v1/admin/stats", { key })).status).toBe(403);
      expect((await t.request("GET", "/v1/admin/stats?from=nope", { key: t.keys.admin })).status).toBe(400);
    });
  });
});

function orderInput(orderReference: string, buyerMemberId: string) {
  return {
    orderReference,
    buyerMemberId,
    refCode: null,
    clickId: null,
    currency: "UAH",
    lines: [{ lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: 1, unitAmount: 10000n }],
    shippingAmount: 0n,
    discountAmount: 0n,
  };
}
void WALLET_A;
