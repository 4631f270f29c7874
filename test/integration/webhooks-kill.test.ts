import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { seedCatalogRows } from "../support/catalog.js";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";
import { exited, startProcess } from "../support/processes.js";
import { startReceiver } from "../support/webhook-receiver.js";

/**
 * At-least-once across kill -9: the service (its own OS process, jobs on) makes the first attempt,
 * is killed with SIGKILL before the next one, and a new process on the same database makes the rest
 * — the receiver sees one webhook-id three times (500, 500, 200), each signature valid. The retry
 * schedule is shortened by WEBHOOK_RETRY_SCHEDULE so the test waits seconds, not minutes.
 * PostgreSQL only: PGlite is one process's database.
 */
describe.runIf(TEST_DB === "postgres")("outbound webhooks survive kill -9 between attempts", () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
  const children: ChildProcess[] = [];
  let connection: Connection;
  let adminKey: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    connection = await connect({ databaseUrl: TEST_DATABASE_URL, schema });
    await migrate(connection.db as never);
    const db = connection.db;
    await seedCatalogRows(db);
    await registerMember(db, SYSTEM, { memberId: "m_kill_ref", displayName: "Killed" });
    await issueCode(db, SYSTEM, "m_kill_ref", { vanity: "KILL9REF" });
    adminKey = (await createApiKey(db, SYSTEM, { role: "admin" })).key;
    env = {
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      PORT: "0",
      DEMO: "0",
      JOBS: "1",
      LOG_LEVEL: "warn",
      WEBHOOK_SECRET: webhookSecret,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: "1",
      WEBHOOK_RETRY_SCHEDULE: "0,3,3",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
      MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
      CRON_SECRET: randomBytes(16).toString("hex"),
    };
  }, 60_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await connection?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  async function call(
    url: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}`, ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  }

  it("500 → kill -9 → restart → 500 → 200, one webhook-id, nothing lost", async () => {
    const receiver = await startReceiver([500, 500, 200]);
    try {
      const first = await startProcess(env);
      children.push(first.child);
      const endpoint = await call(first.url, "POST", "/v1/admin/webhook-endpoints", {
        url: receiver.url,
        events: ["reward.created"],
      });
      expect(endpoint.status).toBe(201);
      const secret = endpoint.body.secret as string;

      const ref = "ord_kill9";
      const body = JSON.stringify(
        paidEvent(ref, "170000", { order: orderBody(ref, { refCode: "KILL9REF" }) }),
      );
      const timestamp = Math.floor(Date.now() / 1000);
      const paid = await call(first.url, "POST", "/v1/webhooks/payments", body, {
        "webhook-id": "evt_kill9",
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(webhookSecret, "evt_kill9", timestamp, body),
      });
      expect(paid.status).toBe(200);

      // The first attempt (immediately) is answered 500 and recorded; then the process dies.
      await receiver.waitFor(1);
      const deliveries = () =>
        connection.db
          .selectFrom("webhook_deliveries")
          .select(["attempts", "status", "last_status_code"])
          .execute();
      for (let i = 0; i < 50; i++) {
        const [row] = await deliveries();
        if (row?.last_status_code === 500) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await deliveries()).toEqual([{ attempts: 1, status: "pending", last_status_code: 500 }]);
      first.child.kill("SIGKILL");
      expect(await exited(first.child)).toBeNull();
      // Dead: the 3 s retry comes from nobody.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      expect(receiver.received).toHaveLength(1);

      const second = await startProcess(env);
      children.push(second.child);
      await receiver.waitFor(3, 30_000);
      expect(receiver.received.map((r) => r.answered)).toEqual([500, 500, 200]);
      expect(new Set(receiver.received.map((r) => r.headers["webhook-id"])).size).toBe(1);
      for (const request of receiver.received) {
        const event = new Webhook(secret).verify(request.body, {
          "webhook-id": String(request.headers["webhook-id"]),
          "webhook-timestamp": String(request.headers["webhook-timestamp"]),
          "webhook-signature": String(request.headers["webhook-signature"]),
        }) as { type: string; data: { orderReference: string } };
        expect(event).toMatchObject({ type: "reward.created", data: { orderReference: ref } });
      }
      let log = await call(second.url, "GET", `/v1/admin/webhook-endpoints/${endpoint.body.id}/deliveries`);
      for (let i = 0; i < 50 && log.body.items[0].status !== "delivered"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        log = await call(second.url, "GET", `/v1/admin/webhook-endpoints/${endpoint.body.id}/deliveries`);
      }
      expect(log.body.items).toHaveLength(1);
      expect(log.body.items[0]).toMatchObject({ status: "delivered", attempts: 3, lastResponseCode: 200 });
      expect(log.body.items[0].history.map((h: { responseCode: number }) => h.responseCode)).toEqual([
        500, 500, 200,
      ]);
      second.child.kill("SIGTERM");
      await exited(second.child);
    } finally {
      await receiver.close();
    }
  }, 150_000);
});
