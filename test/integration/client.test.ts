import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { CLIENT_TYPES_FILE, clientTypesSource, documentOfAllRoutes } from "../../scripts/api-types.js";
import {
  createTwinrailClient,
  sendPaymentWebhook,
  signedWebhook,
  signMemberToken,
  verifyWebhook,
} from "../../src/client/index.js";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

describe(`twinrail/client: the typed client and its signing layer (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("drives the ledger with typed paths, query parameters and bodies", async () => {
    const integration = createTwinrailClient({ baseUrl: t.baseUrl, token: t.keys.integration });
    const order = await integration.POST("/v1/orders", { body: orderBody("ord_client_1") as never });
    expect(order.response.status).toBe(201);
    expect(order.data?.referralApplied).toBe(true);

    const anonymous = createTwinrailClient({ baseUrl: t.baseUrl });
    const event = paidEvent("ord_client_1", order.data?.totals.gross ?? "0");
    const paid = await sendPaymentWebhook(anonymous, t.webhookSecret, event, { id: "evt_client_1" });
    expect(paid.data?.result).toBe("recorded");
    // The same event id again is a duplicate: the id rides in the signed headers.
    const dup = await sendPaymentWebhook(anonymous, t.webhookSecret, event, { id: "evt_client_1" });
    expect(dup.data?.result).toBe("duplicate");
    // A wrong secret is refused.
    const forged = await sendPaymentWebhook(
      anonymous,
      `whsec_${Buffer.from("nope").toString("base64")}`,
      event,
    );
    expect(forged.response.status).toBe(401);

    const admin = createTwinrailClient({ baseUrl: t.baseUrl, token: () => t.keys.admin });
    const rewards = await admin.GET("/v1/admin/rewards", {
      params: { query: { status: "pending_approval", limit: 10 } },
    });
    expect(rewards.data?.items.map((r) => r.orderReference)).toContain("ord_client_1");
    // A refusal arrives as the typed problem, not as data.
    const refused = await anonymous.GET("/v1/admin/rewards");
    expect(refused.response.status).toBe(401);
    expect(refused.error).toMatchObject({ code: "unauthorized" });
    expect(refused.data).toBeUndefined();
  });

  it("signs member tokens the service accepts and refuses a forged one", async () => {
    const secret = t.services.config.secrets.memberToken;
    const me = await createTwinrailClient({
      baseUrl: t.baseUrl,
      token: signMemberToken(secret, "m_anna", 60),
    }).GET("/v1/me");
    expect(me.response.status).toBe(200);
    expect(me.data?.memberId).toBe("m_anna");
    const forged = await createTwinrailClient({
      baseUrl: t.baseUrl,
      token: signMemberToken(`${secret}x`, "m_anna", 60),
    }).GET("/v1/me");
    expect(forged.response.status).toBe(401);
  });

  it("signs webhooks the standardwebhooks package verifies, and verifies the package's signatures", () => {
    const secret = t.webhookSecret;
    const signed = signedWebhook(secret, { type: "order.paid", data: { n: 1 } }, { id: "evt_sw_1" });
    const payload = new Webhook(secret).verify(signed.body, signed.headers);
    expect(payload).toEqual({ type: "order.paid", data: { n: 1 } });

    const now = new Date();
    const body = JSON.stringify({ hello: "world" });
    const theirs = new Webhook(secret).sign("msg_1", now, body);
    const headers = { id: "msg_1", timestamp: String(Math.floor(now.getTime() / 1000)), signature: theirs };
    expect(verifyWebhook(secret, headers, Buffer.from(body))).toEqual({ ok: true });
    expect(verifyWebhook(secret, headers, Buffer.from(`${body} `))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });
});

describe("twinrail/client: generated types", () => {
  it("are generated from the routes' OpenAPI document and current", async () => {
    expect(readFileSync(CLIENT_TYPES_FILE, "utf8"), "run npx tsx scripts/api-types.ts").toBe(
      await clientTypesSource(documentOfAllRoutes()),
    );
  });
});
