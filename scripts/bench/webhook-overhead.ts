/**
 * The outbox triggers' cost on order.paid (sequential signed webhooks over HTTP, one instance): blocks of
 * 150 orders with the 0013 triggers disabled, enabled with no endpoint, and with an enabled endpoint
 * (messages and deliveries written; JOBS off, so nothing is sent). Three rounds, medians in ms/order.
 *
 *   TEST_DB=postgres npx tsx scripts/bench/webhook-overhead.ts   # PostgreSQL at 127.0.0.1:5432/test
 *   npx tsx scripts/bench/webhook-overhead.ts                    # PGlite
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { loadConfig } from "../../src/config.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { startServer } from "../../src/server.js";
import { orderPaidEvent } from "../../test/support/catalog.js";

async function main() {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const config = loadConfig({
    PORT: "0",
    LOG_LEVEL: "silent",
    JOBS: "0",
    DEMO: "0",
    WEBHOOK_SECRET: secret,
    RATE_LIMIT_PUBLIC: "0",
    ...(process.env.TEST_DB === "postgres"
      ? { DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test", DATABASE_SCHEMA: schema }
      : {}),
    WEBHOOK_ALLOW_PRIVATE_TARGETS: "1",
  });
  const s = await startServer(config);
  const admin = (await createApiKey(s.services.db, SYSTEM, { role: "admin" })).key;
  const integ = (await createApiKey(s.services.db, SYSTEM, { role: "integration" })).key;
  const req = async (
    method: string,
    path: string,
    key: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  };
  await req("PUT", "/v1/vendors/v_books", integ, { name: "Books", platformFeeBps: 1000, holdDays: 0 });
  await req("PUT", "/v1/vendors/v_games", integ, {
    name: "Games",
    referralCommissionBps: 800,
    platformFeeBps: 1200,
    holdDays: 7,
  });
  await req("PUT", "/v1/products/p_novel", integ, { vendorId: "v_books", referralCommissionBps: 1000 });
  await req("PUT", "/v1/products/p_chess", integ, { vendorId: "v_games", referralCommissionBps: null });
  await req("POST", "/v1/members", integ, { memberId: "m_anna", displayName: "Anna" });
  await req("POST", "/v1/members/m_anna/code", integ, { vanity: "ANNA7F3K" });
  let n = 0;
  const paid = async () => {
    const ref = `ord_b_${n++}`;
    const body = JSON.stringify(orderPaidEvent(ref, "ANNA7F3K"));
    const ts = Math.floor(Date.now() / 1000);
    const id = `evt_${ref}`;
    const res = await req("POST", "/v1/webhooks/payments", admin, body, {
      "webhook-id": id,
      "webhook-timestamp": String(ts),
      "webhook-signature": signWebhook(secret, id, ts, body),
    });
    if (res.status !== 200) throw new Error(`status ${res.status} ${JSON.stringify(res.body)}`);
  };
  const block = async (count: number) => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await paid();
    return (performance.now() - t0) / count;
  };
  await block(100);

  const db = s.services.db;
  const TRIGGERS = [
    ["referral_rewards_webhook_insert", "referral_rewards"],
    ["referral_rewards_webhook_update", "referral_rewards"],
    ["clawbacks_webhook_insert", "clawbacks"],
    ["settlements_webhook_insert", "settlements"],
    ["settlements_webhook_update", "settlements"],
    ["payouts_webhook_insert", "payouts"],
    ["payouts_webhook_update", "payouts"],
  ];
  const setTriggers = async (on: boolean) => {
    for (const [tg, tb] of TRIGGERS)
      await sql.raw(`ALTER TABLE ${tb} ${on ? "ENABLE" : "DISABLE"} TRIGGER ${tg}`).execute(db);
  };
  const none: number[] = [];
  const without: number[] = [];
  const withEp: number[] = [];
  for (let round = 0; round < 3; round++) {
    await setTriggers(false);
    none.push(await block(150));
    await setTriggers(true);
    without.push(await block(150));
    const ep = await req("POST", "/v1/admin/webhook-endpoints", admin, { url: "http://127.0.0.1:9/x" });
    withEp.push(await block(150));
    await req("DELETE", `/v1/admin/webhook-endpoints/${ep.body.id}`, admin);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const r = (xs: number[]) => xs.map((x) => +x.toFixed(2));
  console.log(
    JSON.stringify({
      db: process.env.TEST_DB ?? "pglite",
      triggersOff: r(none),
      noEndpoint: r(without),
      withEndpoint: r(withEp),
      medians: [med(none), med(without), med(withEp)].map((x) => +x.toFixed(2)),
    }),
  );
  await s.close();
  if (process.env.TEST_DB === "postgres") {
    const c = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/test" });
    await c.connect();
    await c.query(`DROP SCHEMA ${schema} CASCADE`);
    await c.end();
  }
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
