import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { seedCatalogRows } from "../support/catalog.js";
import { deadlocks } from "../support/deadlocks.js";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";
import { startProcess, withConcurrency } from "../support/processes.js";

/**
 * Two service processes on one PostgreSQL schema, traffic of the shape production has: many distinct
 * orders sharing a referrer (half of them one hot referrer, the rest over 50), every event delivered
 * three times with the same webhook-id, the deliveries split across both instances. Before issue 9
 * this committed 151 of 300 orders in 417 s with 452 deadlocks.
 */
const ORDERS = Number(process.env.STORM_ORDERS ?? 1000);
const CONCURRENCY = 32;
const SPREAD_REFERRERS = 50;

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

describe.runIf(TEST_DB === "postgres")("two instances, distinct events sharing rows", () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
  const children: ChildProcess[] = [];
  let urls: string[] = [];
  let connection: Connection;
  const codes: string[] = [];
  let adminKey: string;
  let integrationKey: string;

  beforeAll(async () => {
    connection = await connect({ databaseUrl: TEST_DATABASE_URL, schema });
    await migrate(connection.db as never);
    const db = connection.db;
    await seedCatalogRows(db);
    for (let i = 0; i <= SPREAD_REFERRERS; i++) {
      await registerMember(db, SYSTEM, { memberId: `m_ref${i}`, displayName: `Referrer ${i}` });
      codes.push((await issueCode(db, SYSTEM, `m_ref${i}`)).code);
    }
    adminKey = (await createApiKey(db, SYSTEM, { role: "admin" })).key;
    integrationKey = (await createApiKey(db, SYSTEM, { role: "integration" })).key;
    const env = {
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      PORT: "0",
      DEMO: "0",
      JOBS: "0",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PUBLIC: "0",
      WEBHOOK_SECRET: webhookSecret,
      ATTRIBUTION_CAP_PER_REFERRER_MONTH: "100000",
      ATTRIBUTION_CAP_PER_IP_DAY: "100000",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
      MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
      CRON_SECRET: randomBytes(16).toString("hex"),
    };
    const started = await Promise.all([startProcess(env), startProcess(env)]);
    for (const { child } of started) children.push(child);
    urls = started.map((s) => s.url);
  }, 180_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await connection?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  async function deliver(url: string, id: string, body: string) {
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await fetch(`${url}/v1/webhooks/payments`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(webhookSecret, id, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.text() };
  }

  it(`${ORDERS} orders × 3 deliveries across two instances at concurrency ${CONCURRENCY}: exactly once, no 5xx, no deadlock`, async () => {
    const before = await deadlocks();
    const deliveries: Array<() => Promise<{ status: number; body: string }>> = [];
    for (let i = 0; i < ORDERS; i++) {
      const ref = `ord_storm_${i}`;
      const code = i % 2 === 0 ? codes[0]! : codes[1 + (i % SPREAD_REFERRERS)]!;
      const body = JSON.stringify(paidEvent(ref, "170000", { order: orderBody(ref, { refCode: code }) }));
      for (let k = 0; k < 3; k++) deliveries.push(() => deliver(urls[(i + k) % 2]!, `evt_storm_${i}`, body));
    }
    const started = performance.now();
    const responses = await withConcurrency(CONCURRENCY, shuffle(deliveries));
    const seconds = (performance.now() - started) / 1000;
    const statuses = new Map<number, number>();
    for (const r of responses) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    console.info(
      `storm: ${responses.length} deliveries in ${seconds.toFixed(1)} s (${Math.round(responses.length / seconds)}/s), statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
    );
    expect(
      responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body.slice(0, 200)}`),
    ).toEqual([]);
    const db = connection.db;
    const one = async (query: ReturnType<typeof sql<{ n: string }>>) =>
      Number((await query.execute(db)).rows[0]!.n);
    expect(
      await one(
        sql`SELECT count(*)::text AS n FROM referral_rewards WHERE order_reference LIKE 'ord_storm_%'`,
      ),
    ).toBe(ORDERS);
    expect(
      await one(sql`SELECT count(*)::text AS n FROM settlements WHERE order_reference LIKE 'ord_storm_%'`),
    ).toBe(ORDERS * 2);
    expect(
      await one(
        sql`SELECT count(*)::text AS n FROM (SELECT order_reference, vendor_id FROM settlements GROUP BY 1, 2 HAVING count(*) > 1) d`,
      ),
    ).toBe(0);
    expect(await one(sql`SELECT count(*)::text AS n FROM webhook_events`)).toBe(ORDERS);
    expect(
      await one(sql`SELECT count(*)::text AS n FROM referral_rewards WHERE referrer_member_id = 'm_ref0'`),
    ).toBe(Math.ceil(ORDERS / 2));
    expect(await deadlocks()).toBe(before);
    const reconcile = await fetch(`${urls[0]}/v1/admin/reconcile`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    const report = await reconcile.json();
    expect(report.mismatches).toEqual([]);
  }, 600_000);

  it("200 concurrent signups crossing each other's codes with caps on, across both instances", async () => {
    const pairs = 100;
    const db = connection.db;
    const pairCodes: string[] = [];
    for (let i = 0; i < pairs * 2; i++) {
      await registerMember(db, SYSTEM, { memberId: `m_cross${i}` });
      pairCodes.push((await issueCode(db, SYSTEM, `m_cross${i}`)).code);
    }
    const before = await deadlocks();
    const responses = await withConcurrency(
      64,
      shuffle(
        Array.from({ length: pairs * 2 }, (_, i) => async () => {
          const other = i % 2 === 0 ? i + 1 : i - 1;
          const res = await fetch(`${urls[i % 2]}/v1/members`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${integrationKey}` },
            body: JSON.stringify({
              memberId: `m_cross${i}`,
              refCode: pairCodes[other],
              clientIp: "198.51.100.7",
            }),
          });
          return { status: res.status, body: await res.text() };
        }),
      ),
    );
    expect(responses.filter((r) => r.status >= 500).map((r) => r.body)).toEqual([]);
    expect(await deadlocks()).toBe(before);
    const attributed = Number(
      (
        await sql<{
          n: string;
        }>`SELECT count(*)::text AS n FROM members WHERE member_id LIKE 'm_cross%' AND referred_by_member_id IS NOT NULL`.execute(
          db,
        )
      ).rows[0]!.n,
    );
    // Every member was attributed exactly once (first touch), to its pair.
    expect(attributed).toBe(pairs * 2);
  }, 300_000);
});
