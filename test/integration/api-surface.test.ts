import { describe, expect, it } from "vitest";
import { SECURITY_HEADERS } from "../../src/http/request-basics.js";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

describe(`HTTP surface: auth, idempotency, errors, ops (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("answers 401 problem+json without credentials and 403 for the wrong role", async () => {
    const none = await t.request("GET", "/v1/admin/rewards");
    expect(none.status).toBe(401);
    expect(none.headers.get("content-type")).toContain("application/problem+json");
    expect(none.body).toMatchObject({ status: 401, code: "unauthorized" });
    const forged = await t.request("GET", "/v1/admin/rewards", { key: `${t.keys.admin.slice(0, -2)}xx` });
    expect(forged.status).toBe(401);
    const wrongRole = await t.request("GET", "/v1/admin/rewards", { key: t.keys.integration });
    expect(wrongRole.status).toBe(403);
    const vendorKey = await t.keys.vendor("v_books");
    expect((await t.request("POST", "/v1/orders", { key: vendorKey, body: orderBody("ord_x") })).status).toBe(
      403,
    );
    expect((await t.request("GET", "/v1/me")).status).toBe(401);
    expect((await t.request("GET", "/v1/me", { key: t.keys.admin })).status).toBe(401);
  });

  it("echoes X-Request-Id and puts it in problem bodies", async () => {
    const res = await t.request("GET", "/v1/nope", { headers: { "x-request-id": "req-abc-123" } });
    expect(res.status).toBe(404);
    expect(res.headers.get("x-request-id")).toBe("req-abc-123");
    expect(res.body.requestId).toBe("req-abc-123");
    const generated = await t.request("GET", "/healthz");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers the payments webhook with its request id and helmet's headers, as every other route", async () => {
    // The webhook is served before pino-http and helmet (src/http/middleware/lean-request.ts).
    const hook = await t.request("POST", "/v1/webhooks/payments", {
      headers: { "x-request-id": "req-wh-9", "content-type": "application/json" },
      body: "{}",
    });
    expect(hook.status).toBeGreaterThanOrEqual(400);
    expect(hook.headers.get("x-request-id")).toBe("req-wh-9");
    expect(hook.body.requestId).toBe("req-wh-9");
    // Express routes ignore case and one trailing slash: those reach the webhook's route too.
    for (const path of ["/v1/webhooks/payments/", "/V1/Webhooks/Payments"]) {
      const variant = await t.request("POST", path, {
        headers: { "x-request-id": "req-wh-10", "content-type": "application/json" },
        body: "{}",
      });
      expect(variant.status).toBe(hook.status);
      expect(variant.body.requestId).toBe("req-wh-10");
    }
    const other = await t.request("GET", "/v1/nope");
    const names = SECURITY_HEADERS.filter((_, i) => i % 2 === 0);
    const security = (headers: Headers) => names.map((name) => [name, headers.get(name)]);
    // helmet's own answer on an express route is the reference: every header there, and the same.
    expect(security(other.headers).every(([, value]) => value !== null)).toBe(true);
    expect(security(hook.headers)).toEqual(security(other.headers));
    // And nothing else that helmet or pino-http sets is missing (both answers are problem+json).
    const VARYING = new Set(["date", "etag", "content-length", "connection", "keep-alive", "vary"]);
    const headerNames = (headers: Headers) => {
      const found: string[] = [];
      headers.forEach((_value, name) => {
        if (!VARYING.has(name)) found.push(name);
      });
      return found.sort();
    };
    expect(headerNames(hook.headers)).toEqual(headerNames(other.headers));
  });

  it("replays the first response for a repeated Idempotency-Key and refuses a different body with 422", async () => {
    const headers = { "idempotency-key": "idem-1" };
    const body = { memberId: "m_idem", displayName: "Idem" };
    const first = await t.request("POST", "/v1/members", { key: t.keys.integration, body, headers });
    const again = await t.request("POST", "/v1/members", { key: t.keys.integration, body, headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { ...body, displayName: "X" },
      headers,
    });
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_conflict");
  });

  it("rejects malformed bodies with 400 and names each field", async () => {
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: {
        orderReference: "",
        currency: "uah",
        lines: [{ lineId: "l1", vendorId: "v_books", quantity: 0, unitAmount: "1.5" }],
      },
    });
    expect(res.status).toBe(400);
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "body.orderReference",
        "body.currency",
        "body.lines.0.quantity",
        "body.lines.0.unitAmount",
      ]),
    );
    const notJson = await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: "{oops",
      headers: { "content-type": "application/json" },
    });
    expect(notJson.status).toBe(400);
    expect(notJson.body.code).toBe("bad_request");
  });

  it("refuses an order for an unknown vendor with 422 and writes nothing", async () => {
    const res = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_unknown_vendor", {
        lines: [{ lineId: "l1", vendorId: "v_ghost", quantity: 1, unitAmount: "100" }],
      }),
    });
    expect(res.status).toBe(422);
    const order = await t.services.db
      .selectFrom("orders")
      .selectAll()
      .where("order_reference", "=", "ord_unknown_vendor")
      .executeTakeFirst();
    expect(order).toBeUndefined();
  });

  it("keeps the first touch: a second signup with another code does not change referredBy", async () => {
    await t.request("POST", "/v1/members", { key: t.keys.integration, body: { memberId: "m_ref2" } });
    const other = await t.request("POST", "/v1/members/m_ref2/code", { key: t.keys.integration, body: {} });
    expect(other.status).toBe(201);
    expect(other.body.code).toMatch(/^[23456789A-HJ-NP-Z]{8}$/);
    const first = await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_first", refCode: "anna7f3k" },
    });
    expect(first.status).toBe(201);
    expect(first.body.referredBy).toMatchObject({ code: "ANNA7F3K", memberId: "m_anna" });
    const second = await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_first", refCode: other.body.code },
    });
    expect(second.status).toBe(200);
    expect(second.body.referredBy).toEqual(first.body.referredBy);
    expect(second.body.attribution).toEqual({ applied: false, reason: "already_attributed" });
  });

  it("refuses self-referral at signup with a reason", async () => {
    const res = await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: {
        memberId: "m_self",
        walletAddress: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        refCode: "ANNA7F3K",
      },
    });
    expect(res.body.attribution).toEqual({ applied: false, reason: "self_referral" });
    expect(res.body.referredBy).toBeNull();
  });

  it("redirects /r/:code with the cookies for a valid code and without them for an unknown one", async () => {
    const valid = await t.request("GET", "/r/ANNA7F3K");
    expect(valid.status).toBe(302);
    expect(valid.headers.get("location")).toBe(`${t.baseUrl}/shop/?ref=ANNA7F3K`);
    expect(valid.headers.getSetCookie().map((c) => c.split("=")[0])).toEqual(["tw_ref", "tw_ref_visible"]);
    expect(valid.headers.getSetCookie()[0]).toMatch(/HttpOnly/i);
    const unknown = await t.request("GET", "/r/NOPE1234");
    expect(unknown.status).toBe(302);
    expect(unknown.headers.get("location")).toBe(`${t.baseUrl}/shop/`);
    expect(unknown.headers.getSetCookie()).toEqual([]);
  });

  it("approves, mints through the contract and marks the reward minted with its tx hash", async () => {
    const ref = "ord_mint_api";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "170000"));
    const rewardId = paid.body.reward.id as string;
    const notApproved = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(notApproved.body.rewardIds ?? []).not.toContain(rewardId);
    const approve = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [rewardId, "999999"] },
    });
    expect(approve.body).toEqual({
      approved: [rewardId],
      unchanged: [],
      skipped: [{ id: "999999", reason: "not_found" }],
    });
    const repeat = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [rewardId] },
    });
    expect(repeat.body).toMatchObject({ approved: [rewardId], unchanged: [rewardId] });
    const mint = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(mint.body).toMatchObject({ status: "confirmed", rewardIds: [rewardId] });
    expect(mint.body.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    const minted = await t.request("GET", "/v1/admin/rewards?status=minted", { key: t.keys.admin });
    expect(minted.body.items.find((r: { id: string }) => r.id === rewardId)).toMatchObject({
      txHash: mint.body.txHash,
    });
    const rejectMinted = await t.request("POST", "/v1/admin/rewards/reject", {
      key: t.keys.admin,
      body: { ids: [rewardId], reason: "late" },
    });
    expect(rejectMinted.body.skipped).toEqual([{ id: rewardId, reason: "status_minted" }]);
    const batches = await t.request("GET", "/v1/admin/mint-batches", { key: t.keys.admin });
    expect(batches.body.items[0]).toMatchObject({ status: "confirmed", txHash: mint.body.txHash });
    expect(Number(batches.body.items[0].gasUsed)).toBeGreaterThan(21_000);
  });

  it("guards /v1/cron/mint with the cron secret", async () => {
    expect((await t.request("POST", "/v1/cron/mint")).status).toBe(401);
    expect((await t.request("POST", "/v1/cron/mint", { key: "wrong-secret-value" })).status).toBe(401);
    const ok = await t.request("GET", "/v1/cron/mint", { key: t.cronSecret });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ minted: 0, failed: 0 });
  });

  it("reports health, readiness and metrics", async () => {
    expect((await t.request("GET", "/healthz")).body).toEqual({ status: "ok" });
    const ready = await t.request("GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      status: "ready",
      database: { ok: true },
      chain: { ok: true, mode: "embedded" },
    });
    const metrics = await t.request("GET", "/metrics");
    expect(metrics.text).toContain("twinrail_mint_batches_total");
  });

  it("shows the referrer their own numbers with a member token", async () => {
    const me = await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      memberId: "m_anna",
      code: "ANNA7F3K",
      shareUrl: `${t.baseUrl}/r/ANNA7F3K`,
    });
    expect(me.body.rewards.minted).toBeGreaterThanOrEqual(1);
    const rewards = await t.request("GET", "/v1/me/rewards", { key: t.memberToken("m_anna") });
    expect(rewards.body.items.length).toBeGreaterThan(0);
  });
  it("publishes OpenAPI 3.1 generated from the validators, and a docs page without scripts", async () => {
    const doc = await t.request("GET", "/openapi.json");
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    const order = doc.body.paths["/v1/orders"].post;
    expect(order.requestBody.content["application/json"].schema.required).toEqual(
      expect.arrayContaining(["orderReference", "currency", "lines"]),
    );
    expect(order.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(["/v1/webhooks/payments", "/v1/me", "/r/{code}"]),
    );
    const docs = await t.request("GET", "/docs");
    expect(docs.status).toBe(200);
    expect(docs.text).toContain("/v1/admin/rewards/approve");
    expect(docs.text).not.toContain("<script");
  });
});
