import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import {
  counts,
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

describe(`webhook authentication and validation (${TEST_DB})`, () => {
  let t: TestInstance;
  const ref = "ord_sec";
  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
  });
  afterAll(async () => {
    await t?.close();
  });

  const nothingWritten = async () =>
    expect(await counts(t, ref)).toEqual({ settlements: 0, assists: 0, rewards: 0, webhooks: 0 });

  it("rejects a signature made with another secret (401) and writes nothing", async () => {
    const body = JSON.stringify(paidEvent(ref, "170000"));
    const ts = Math.floor(Date.now() / 1000);
    const res = await t.webhook(undefined, {
      rawBody: body,
      id: "evt_bad",
      timestamp: ts,
      signature: signWebhook(
        `whsec_${Buffer.from("other-secret-0123456789").toString("base64")}`,
        "evt_bad",
        ts,
        body,
      ),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("invalid_signature");
    await nothingWritten();
  });

  it("rejects a body changed after signing (401)", async () => {
    const body = JSON.stringify(paidEvent(ref, "170000"));
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook(t.webhookSecret, "evt_tamper", ts, body);
    const res = await t.webhook(undefined, {
      rawBody: body.replace("170000", "170001"),
      id: "evt_tamper",
      timestamp: ts,
      signature,
    });
    expect(res.status).toBe(401);
    await nothingWritten();
  });

  it("rejects a stale timestamp (401) even with a valid signature", async () => {
    const res = await t.webhook(paidEvent(ref, "170000"), {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(res.status).toBe(401);
    expect(res.body.detail).toContain("stale");
    await nothingWritten();
  });

  it("rejects missing signature headers (401)", async () => {
    const res = await t.request("POST", "/v1/webhooks/payments", { body: paidEvent(ref, "170000") });
    expect(res.status).toBe(401);
    await nothingWritten();
  });

  it("answers a signed but malformed body with 400 problem+json listing the fields", async () => {
    const res = await t.webhook({
      type: "order.paid",
      data: { orderReference: ref, amountPaid: 170000, currency: "uah" },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: 400, code: "validation_failed" });
    expect(res.body.requestId).toBeTruthy();
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(["body.data.amountPaid", "body.data.currency", "body.data.paymentRail"]),
    );
    await nothingWritten();
  });

  it("answers signed non-JSON with 400", async () => {
    const res = await t.webhook(undefined, { rawBody: "{not json" });
    expect(res.status).toBe(400);
    await nothingWritten();
  });
});
