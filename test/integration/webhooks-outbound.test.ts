import type { IncomingHttpHeaders } from "node:http";
import { sql } from "kysely";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { markSettlementsDue } from "../../src/jobs/settlements.js";
import { claimDeliveries } from "../../src/ledger/webhook-deliveries.js";
import { createLogger } from "../../src/logger.js";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.js";
import { WEBHOOK_EVENT_TYPES } from "../../src/webhooks/events.js";
import { sendWebhook } from "../../src/webhooks/send.js";
import { blockedReason } from "../../src/webhooks/targets.js";
import {
  orderBody,
  paidEvent,
  startTestInstance,
  TEST_DB,
  type TestInstance,
  useTestInstance,
} from "../support/harness.js";
import { startReceiver } from "../support/webhook-receiver.js";

/**
 * Outbound webhooks (issue 13.1): the outbox written by the ledger's own statements, delivered with
 * Standard Webhooks signatures on the retry schedule, driven by an injected clock (no waiting).
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Verifies like a receiver would, at the time the message was signed (standardwebhooks reads Date.now). */
function verifyAt(
  at: number,
  secret: string,
  request: { headers: IncomingHttpHeaders; body: string },
  signature?: string,
) {
  const headers = {
    "webhook-id": String(request.headers["webhook-id"]),
    "webhook-timestamp": String(request.headers["webhook-timestamp"]),
    "webhook-signature": signature ?? String(request.headers["webhook-signature"]),
  };
  const spy = vi.spyOn(Date, "now").mockReturnValue(at);
  try {
    return new Webhook(secret).verify(request.body, headers) as {
      type: string;
      timestamp: string;
      data: Record<string, unknown>;
    };
  } finally {
    spy.mockRestore();
  }
}

function clock(start = Date.now() + SECOND) {
  let now = start;
  return {
    now: () => new Date(now),
    get ms() {
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
  };
}

let orders = 0;
async function payOrder(t: TestInstance): Promise<string> {
  const ref = `ord_wh_${++orders}_${Date.now()}`;
  const res = await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }));
  expect(res.status).toBe(200);
  return ref;
}

describe(`outbound webhooks (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { WEBHOOK_ALLOW_PRIVATE_TARGETS: "1" } });
  const logger = createLogger("silent");
  const dispatcher = (c: ReturnType<typeof clock>) =>
    new WebhookDispatcher({ db: t.services.db, logger, allowPrivate: true, now: c.now });

  async function createEndpoint(url: string, events?: string[]) {
    const res = await t.request("POST", "/v1/admin/webhook-endpoints", {
      key: t.keys.admin,
      body: { url, ...(events ? { events } : {}), description: "test receiver" },
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; secret: string; events: string[] };
  }

  it("writes nothing to the outbox while no endpoint is enabled", async () => {
    await payOrder(t);
    const messages = await t.services.db.selectFrom("webhook_messages").select("id").execute();
    expect(messages).toHaveLength(0);
  });

  it("500, 500, 200: the same webhook-id three times, each signature valid, and the delivery log shows it", async () => {
    const receiver = await startReceiver([500, 500, 200]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created"]);
      expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const listed = await t.request("GET", "/v1/admin/webhook-endpoints", { key: t.keys.admin });
      expect(JSON.stringify(listed.body)).not.toContain(endpoint.secret);

      const ref = await payOrder(t);
      const c = clock();
      const run = dispatcher(c);
      const signedAt: number[] = [];

      signedAt.push(c.ms);
      expect(await run.runOnce()).toBe(1); // immediately
      expect(receiver.received).toHaveLength(1);
      c.advance(4 * SECOND);
      expect(await run.runOnce()).toBe(0); // not before 5 s
      c.advance(1 * SECOND);
      signedAt.push(c.ms);
      expect(await run.runOnce()).toBe(1);
      c.advance(5 * MINUTE - SECOND);
      expect(await run.runOnce()).toBe(0); // not before 5 min
      c.advance(SECOND);
      signedAt.push(c.ms);
      expect(await run.runOnce()).toBe(1);
      c.advance(DAY);
      expect(await run.runOnce()).toBe(0); // delivered: never again

      expect(receiver.received.map((r) => r.answered)).toEqual([500, 500, 200]);
      const ids = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
      expect(ids.size).toBe(1);
      receiver.received.forEach((request, i) => {
        expect(request.headers["webhook-timestamp"]).toBe(String(Math.floor(signedAt[i]! / 1000)));
        const event = verifyAt(signedAt[i]!, endpoint.secret, request);
        expect(event.type).toBe("reward.created");
        expect(event.data.orderReference).toBe(ref);
        expect(request.body).toBe(receiver.received[0]!.body); // the same bytes at every attempt
      });
      // A wrong secret does not verify.
      expect(() =>
        verifyAt(signedAt[0]!, `whsec_${Buffer.alloc(32, 1).toString("base64")}`, receiver.received[0]!),
      ).toThrow();

      // The data is the API's view of the reward.
      const event = JSON.parse(receiver.received[0]!.body);
      expect(Object.keys(event).sort()).toEqual(["data", "timestamp", "type"]);
      const api = await t.request("GET", "/v1/admin/rewards?limit=200", { key: t.keys.admin });
      const view = (api.body.items as Array<Record<string, unknown>>).find((r) => r.orderReference === ref)!;
      for (const key of [
        "id",
        "orderReference",
        "referrer",
        "fiatBasis",
        "amountWei",
        "currency",
        "status",
        "createdAt",
      ]) {
        expect(event.data[key]).toEqual(view[key]);
      }

      const log = await t.request("GET", `/v1/admin/webhook-endpoints/${endpoint.id}/deliveries`, {
        key: t.keys.admin,
      });
      expect(log.status).toBe(200);
      expect(log.body.items).toHaveLength(1);
      const delivery = log.body.items[0];
      expect(delivery).toMatchObject({
        webhookId: receiver.received[0]!.headers["webhook-id"],
        eventType: "reward.created",
        status: "delivered",
        attempts: 3,
        lastResponseCode: 200,
        nextAttemptAt: null,
      });
      expect(delivery.history.map((h: { responseCode: number }) => h.responseCode)).toEqual([500, 500, 200]);
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("the retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed; a retry from the console tries once more", async () => {
    const receiver = await startReceiver([503]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created"]);
      await payOrder(t);
      const c = clock();
      const run = dispatcher(c);
      const gaps = [0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];
      for (const gap of gaps) {
        c.advance(gap - SECOND > 0 ? gap - SECOND : 0);
        if (gap > 0) expect(await run.runOnce()).toBe(0);
        c.advance(gap > 0 ? SECOND : 0);
        expect(await run.runOnce()).toBe(1);
      }
      c.advance(30 * DAY);
      expect(await run.runOnce()).toBe(0);
      expect(receiver.received).toHaveLength(8);
      const failed = await t.request(
        "GET",
        `/v1/admin/webhook-endpoints/${endpoint.id}/deliveries?status=failed`,
        { key: t.keys.admin },
      );
      expect(failed.body.items).toHaveLength(1);
      expect(failed.body.items[0]).toMatchObject({ status: "failed", attempts: 8, lastResponseCode: 503 });

      const retry = await t.request("POST", `/v1/admin/webhook-deliveries/${failed.body.items[0].id}/retry`, {
        key: t.keys.admin,
      });
      expect(retry.status).toBe(200);
      const now = clock(Date.now() + SECOND);
      expect(await dispatcher(now).runOnce()).toBe(1);
      expect(receiver.received).toHaveLength(9);
      const after = await t.request("GET", `/v1/admin/webhook-endpoints/${endpoint.id}/deliveries`, {
        key: t.keys.admin,
      });
      expect(after.body.items[0]).toMatchObject({ status: "failed", attempts: 9 });
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("rotation: old and new secret both sign for 24 h (two v1 signatures, each verifying), then only the new", async () => {
    const receiver = await startReceiver([200]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created"]);
      const rotated = await t.request("POST", `/v1/admin/webhook-endpoints/${endpoint.id}/rotate-secret`, {
        key: t.keys.admin,
      });
      expect(rotated.status).toBe(200);
      const fresh = rotated.body.secret as string;
      expect(fresh).not.toBe(endpoint.secret);
      expect(rotated.body.previousSecretExpiresAt).not.toBeNull();

      await payOrder(t);
      const c = clock();
      expect(await dispatcher(c).runOnce()).toBe(1);
      const request = receiver.received[0]!;
      const signatures = String(request.headers["webhook-signature"]).split(" ");
      expect(signatures).toHaveLength(2);
      for (const signature of signatures) expect(signature).toMatch(/^v1,/);
      verifyAt(c.ms, fresh, request, signatures[0]);
      verifyAt(c.ms, endpoint.secret, request, signatures[1]);
      expect(() => verifyAt(c.ms, fresh, request, signatures[1])).toThrow();
      verifyAt(c.ms, fresh, request);
      verifyAt(c.ms, endpoint.secret, request);

      // 24 h later the old secret no longer signs.
      await payOrder(t);
      const later = clock(Date.now() + DAY + MINUTE);
      expect(await dispatcher(later).runOnce()).toBe(1);
      const next = receiver.received[1]!;
      expect(String(next.headers["webhook-signature"]).split(" ")).toHaveLength(1);
      verifyAt(later.ms, fresh, next);
      expect(() => verifyAt(later.ms, endpoint.secret, next)).toThrow();
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("an endpoint failing for 5 days is disabled, says so, and gets nothing more until enabled", async () => {
    const receiver = await startReceiver([500]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created"]);
      const c = clock();
      const run = dispatcher(c);
      const db = t.services.db;
      const firstFailure = c.ms;
      let lastEnabledFailure = c.ms;
      for (let step = 0; step < 200; step++) {
        const state = await db
          .selectFrom("webhook_endpoints")
          .select(["enabled"])
          .where("id", "=", BigInt(endpoint.id))
          .executeTakeFirstOrThrow();
        if (!state.enabled) break;
        lastEnabledFailure = c.ms;
        const next = await db
          .selectFrom("webhook_deliveries")
          .select((eb) => eb.fn.min("next_attempt_at").as("at"))
          .where("endpoint_id", "=", BigInt(endpoint.id))
          .where("status", "=", "pending")
          .executeTakeFirst();
        if (!next?.at) {
          await payOrder(t); // a new event; the clock moves on by a few hours
          c.advance(3 * HOUR);
          continue;
        }
        c.advance(Math.max(0, new Date(next.at).getTime() - c.ms));
        await run.runOnce();
      }
      const listed = await t.request("GET", "/v1/admin/webhook-endpoints", { key: t.keys.admin });
      const view = (listed.body.items as Array<Record<string, unknown>>).find((e) => e.id === endpoint.id)!;
      expect(view.enabled).toBe(false);
      expect(view.disabledReason).toMatch(/failed for 5 days/);
      const disabledAt = new Date(view.disabledAt as string).getTime();
      expect(disabledAt - firstFailure).toBeGreaterThanOrEqual(5 * DAY);
      expect(lastEnabledFailure - firstFailure).toBeLessThan(5 * DAY + 10 * HOUR);
      expect(run.stats.disabledEndpoints).toBe(1);

      // Disabled: due deliveries wait, new events are not fanned out to it.
      const count = receiver.received.length;
      await payOrder(t);
      c.advance(30 * DAY);
      await run.runOnce();
      expect(receiver.received.length).toBe(count);
      const enabled = await t.request("POST", `/v1/admin/webhook-endpoints/${endpoint.id}/enable`, {
        key: t.keys.admin,
      });
      expect(enabled.status).toBe(200);
      expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null });
      await run.runOnce();
      expect(receiver.received.length).toBeGreaterThan(count);
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("instances claiming at once take disjoint deliveries (SKIP LOCKED): each message arrives once", async () => {
    const receiver = await startReceiver([200]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created", "settlement.due"]);
      for (let i = 0; i < 6; i++) await payOrder(t); // 6 rewards + the settlements written as due
      const pending = await t.services.db
        .selectFrom("webhook_deliveries")
        .select("id")
        .where("endpoint_id", "=", BigInt(endpoint.id))
        .execute();
      expect(pending.length).toBeGreaterThanOrEqual(6);
      const c = clock();
      const runners = [0, 1, 2].map(
        () =>
          new WebhookDispatcher({ db: t.services.db, logger, allowPrivate: true, now: c.now, batchSize: 2 }),
      );
      await Promise.all(
        runners.map(async (runner) => {
          while ((await runner.runOnce()) > 0) {}
        }),
      );
      const ids = receiver.received.map((r) => String(r.headers["webhook-id"]));
      expect(ids.length).toBe(pending.length);
      expect(new Set(ids).size).toBe(ids.length);
      expect(runners.reduce((n, r) => n + r.stats.delivered, 0)).toBe(pending.length);
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("an attempt cut short (the process died holding the claim) is made again when its lease ends", async () => {
    const receiver = await startReceiver([200]);
    try {
      const endpoint = await createEndpoint(receiver.url, ["reward.created"]);
      await payOrder(t);
      const c = clock();
      // Claimed and never recorded: what a kill -9 during the POST leaves behind.
      const lost = await claimDeliveries(t.services.db, { now: c.now(), limit: 10, leaseMs: 60 * SECOND });
      expect(lost).toHaveLength(1);
      const run = dispatcher(c);
      c.advance(59 * SECOND);
      expect(await run.runOnce()).toBe(0); // still leased
      c.advance(2 * SECOND);
      expect(await run.runOnce()).toBe(1);
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]!.headers["webhook-id"]).toBe(`msg_${lost[0]!.messageId}`);
      const log = await t.request("GET", `/v1/admin/webhook-endpoints/${endpoint.id}/deliveries`, {
        key: t.keys.admin,
      });
      expect(log.body.items[0]).toMatchObject({ status: "delivered", attempts: 2 });
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });

  it("all nine event types, each once per change, carrying the API's view", async () => {
    const receiver = await startReceiver([200]);
    try {
      const endpoint = await createEndpoint(receiver.url); // every type
      const key = t.keys.admin;
      const rewardOf = async (ref: string) => {
        const page = await t.request("GET", "/v1/admin/rewards?limit=200", { key });
        return (page.body.items as Array<{ id: string; orderReference: string }>).find(
          (r) => r.orderReference === ref,
        )!;
      };
      const minted = await payOrder(t);
      const rejected = await payOrder(t);
      const cancelled = await payOrder(t);
      const reward = await rewardOf(minted);
      expect(
        (await t.request("POST", "/v1/admin/rewards/approve", { key, body: { ids: [reward.id] } })).status,
      ).toBe(200);
      const mint = await t.request("POST", "/v1/admin/mint", { key, body: {} });
      expect(mint.body, JSON.stringify(mint.body)).toMatchObject({ status: "confirmed" });
      const rejectedId = (await rewardOf(rejected)).id;
      await t.request("POST", "/v1/admin/rewards/reject", {
        key,
        body: { ids: [rejectedId], reason: "test" },
      });
      const refund = (ref: string) => ({
        type: "order.refunded",
        data: {
          orderReference: ref,
          refundId: `re_${ref}`,
          amountRefunded: "170000",
          refundedAt: new Date().toISOString(),
        },
      });
      expect((await t.webhook(refund(cancelled))).status).toBe(200);
      expect((await t.webhook(refund(minted))).status).toBe(200); // after mint: clawback debt
      await markSettlementsDue(t.services.db, new Date(Date.now() + 30 * DAY));
      const payouts = await t.request("POST", "/v1/admin/payouts", { key, body: {} });
      expect(payouts.body.payouts.length).toBeGreaterThan(0);
      const payoutId = payouts.body.payouts[0].payoutId as string;
      expect((await t.request("POST", `/v1/admin/payouts/${payoutId}/paid`, { key, body: {} })).status).toBe(
        200,
      );

      const c = clock();
      while ((await dispatcher(c).runOnce()) > 0) {}
      const events = receiver.received.map((r) => JSON.parse(r.body));
      const types = new Set(events.map((e) => e.type));
      expect([...types].sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
      const of = (type: string, id: string, field = "id") =>
        events.filter((e) => e.type === type && e.data[field] === id);
      expect(of("reward.created", reward.id)).toHaveLength(1);
      expect(of("reward.approved", reward.id)).toHaveLength(1);
      expect(of("reward.minted", reward.id)[0].data).toMatchObject({
        status: "minted",
        txHash: mint.body.txHash,
      });
      expect(of("reward.rejected", rejectedId)).toHaveLength(1);
      expect(of("reward.cancelled", (await rewardOf(cancelled)).id)).toHaveLength(1);
      expect(of("clawback.created", reward.id, "rewardId")[0].data).toMatchObject({
        kind: "debt",
        orderReference: minted,
      });
      const paid = of("payout.paid", payoutId, "payoutId");
      expect(paid).toHaveLength(1);
      const api = await t.request("GET", "/v1/admin/payouts", { key });
      expect(paid[0].data).toEqual(
        (api.body.items as Array<{ payoutId: string }>).find((p) => p.payoutId === payoutId),
      );
      const due = events.find((e) => e.type === "settlement.due");
      const settlements = await t.request("GET", "/v1/admin/settlements?limit=500", { key });
      const settlement = (settlements.body.items as Array<{ id: string }>).find(
        (row) => row.id === due.data.id,
      )!;
      expect({ ...due.data, status: "due", payoutId: null }).toMatchObject({
        ...settlement,
        status: "due",
        payoutId: null,
      });
      // webhook-id is per message: distinct messages never share one.
      expect(new Set(receiver.received.map((r) => r.headers["webhook-id"])).size).toBe(
        receiver.received.length,
      );

      // The message is written by the statement that makes the change: seen inside its transaction,
      // gone with it when it rolls back.
      const db = t.services.db;
      const count = async (conn: typeof db) =>
        Number(
          (await sql<{ n: string }>`SELECT count(*)::text AS n FROM webhook_messages`.execute(conn)).rows[0]!
            .n,
        );
      const before = await count(db);
      await expect(
        db.transaction().execute(async (trx) => {
          await sql`UPDATE referral_rewards SET status = 'cancelled' WHERE id = ${BigInt(reward.id)}`.execute(
            trx,
          );
          expect(await count(trx as never)).toBe(before + 1);
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await count(db)).toBe(before);
      await t.request("DELETE", `/v1/admin/webhook-endpoints/${endpoint.id}`, { key: t.keys.admin });
    } finally {
      await receiver.close();
    }
  });
});

describe(`webhook targets refused when private targets are not allowed (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance({ WEBHOOK_ALLOW_PRIVATE_TARGETS: "0" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    "http://127.0.0.1:8080/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:3000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://192.168.1.10/hook",
    "http://0x7f.1/hook",
    "http://localhost:3000/hook",
  ])("refuses %s at creation", async (url) => {
    const res = await t.request("POST", "/v1/admin/webhook-endpoints", { key: t.keys.admin, body: { url } });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe("unprocessable");
    const listed = await t.request("GET", "/v1/admin/webhook-endpoints", { key: t.keys.admin });
    expect(listed.body.items).toHaveLength(0);
  });

  it("refuses non-http schemes", async () => {
    const res = await t.request("POST", "/v1/admin/webhook-endpoints", {
      key: t.keys.admin,
      body: { url: "file:///etc/passwd" },
    });
    expect(res.status).toBe(422);
  });

  it("classifies addresses", () => {
    for (const address of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.0.1",
      "169.254.169.254",
      "::1",
      "fe80::1",
      "fd00::1",
      "::ffff:10.0.0.1",
      "0.0.0.0",
      "100.64.0.1",
    ]) {
      expect(blockedReason(address), address).toBeDefined();
    }
    for (const address of ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1"]) {
      expect(blockedReason(address), address).toBeUndefined();
    }
  });

  it("at delivery, a name resolving to loopback is refused before connecting (the receiver gets nothing)", async () => {
    const receiver = await startReceiver([200]);
    try {
      const result = await sendWebhook(`http://localhost:${receiver.port}/hooks`, {}, "{}", {
        allowPrivate: false,
      });
      expect(result.statusCode).toBeNull();
      expect(result.error).toMatch(/refused/);
      const literal = await sendWebhook(`http://127.0.0.1:${receiver.port}/hooks`, {}, "{}", {
        allowPrivate: false,
      });
      expect(literal.error).toMatch(/refused/);
      expect(receiver.received).toHaveLength(0);
      // Allowed: the same target is reached through the resolved address.
      const allowed = await sendWebhook(`http://localhost:${receiver.port}/hooks`, {}, "{}", {
        allowPrivate: true,
      });
      expect(allowed.statusCode).toBe(200);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it("times out a target that never answers", async () => {
    const receiver = await startReceiver([200]);
    const { createServer } = await import("node:http");
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const result = await sendWebhook(`http://127.0.0.1:${port}/`, {}, "{}", {
        allowPrivate: true,
        timeoutMs: 300,
      });
      expect(result.statusCode).toBeNull();
      expect(result.error).toMatch(/no answer within/);
    } finally {
      silent.closeAllConnections();
      silent.close();
      await receiver.close();
    }
  });
});
