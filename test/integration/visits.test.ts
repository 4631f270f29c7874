import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadVisits } from "../../scripts/load-visits.js";
import { pruneVisits } from "../../src/ledger/prune-visits.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

const LOAD = 10_000;

async function makeReferrer(t: TestInstance, memberId: string) {
  const key = t.keys.integration;
  await t.request("POST", "/v1/members", { key, body: { memberId, displayName: memberId } });
  const issued = await t.request("POST", `/v1/members/${memberId}/code`, { key, body: {} });
  return issued.body.code as string;
}

async function totals(t: TestInstance, code: string) {
  const row = await t.services.db
    .selectFrom("referral_codes")
    .select(["visits_total", "unique_visitors_total"])
    .where("code", "=", code)
    .executeTakeFirstOrThrow();
  const days = await t.services.db
    .selectFrom("visit_days")
    .select([
      sql<string>`coalesce(sum(visits), 0)`.as("visits"),
      sql<string>`coalesce(sum(unique_visitors), 0)`.as("uniques"),
    ])
    .where("code", "=", code)
    .executeTakeFirstOrThrow();
  return {
    visitsTotal: Number(row.visits_total),
    uniqueTotal: Number(row.unique_visitors_total),
    dayVisits: Number(days.visits),
    dayUniques: Number(days.uniques),
  };
}

describe(`visits are exact under concurrency (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    // A long flush interval: the buffer must hold everything until the explicit flush, and a small
    // VISIT_FLUSH_MAX makes flushes overlap with incoming visits while the load runs.
    t = await startTestInstance({ RATE_LIMIT_PUBLIC: "0", VISIT_FLUSH_MS: "60000", VISIT_FLUSH_MAX: "500" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`counts exactly ${LOAD} of ${LOAD} concurrent visits to one code after flush`, async () => {
    const code = await makeReferrer(t, "m_load");
    const result = await loadVisits({
      urls: [t.baseUrl.replace("localhost", "127.0.0.1")],
      code,
      total: LOAD,
      concurrency: 64,
    });
    await t.services.visits!.flush();
    console.log(`[load ${TEST_DB} 1 instance] ${JSON.stringify(result)}`);
    expect(result.statuses).toEqual({ "302": LOAD });
    // 100 user agents from one address = 100 unique visitors today.
    expect(await totals(t, code)).toEqual({
      visitsTotal: LOAD,
      uniqueTotal: 100,
      dayVisits: LOAD,
      dayUniques: 100,
    });
  }, 180_000);

  it("shows total, today, 7d and 28d visits, signups and conversions on /v1/me", async () => {
    const code = await makeReferrer(t, "m_me");
    for (let i = 0; i < 3; i += 1) await t.request("POST", "/v1/track", { body: { code } });
    await t.services.visits!.flush();
    // An old day row (kept by retention at 20 days, outside 7d) — inserted directly.
    await sql`INSERT INTO visit_days (code, day, visits, unique_visitors)
      VALUES (${code}, (now() at time zone 'utc')::date - 20, 5, 1)`.execute(t.services.db);
    await sql`UPDATE referral_codes SET visits_total = visits_total + 5 WHERE code = ${code}`.execute(
      t.services.db,
    );
    await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_me_friend", refCode: code },
    });
    const me = await t.request("GET", "/v1/me", { key: t.memberToken("m_me") });
    expect(me.status).toBe(200);
    const utcDay = (daysAgo: number) =>
      new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    expect(me.body.visits).toEqual({
      total: 8,
      today: 3,
      last7d: 3,
      last28d: 8,
      daily: [
        { day: utcDay(20), visits: 5 },
        { day: utcDay(0), visits: 3 },
      ],
    });
    expect(me.body.signups).toBe(1);
    expect(me.body.conversions).toBe(0);
  });

  it("retention drops day rows older than 28 days without changing lifetime totals", async () => {
    const code = await makeReferrer(t, "m_retention");
    await t.request("GET", `/r/${code}`);
    await t.services.visits!.flush();
    await sql`INSERT INTO visit_days (code, day, visits, unique_visitors) VALUES
      (${code}, (now() at time zone 'utc')::date - 27, 7, 1),
      (${code}, (now() at time zone 'utc')::date - 28, 11, 1),
      (${code}, (now() at time zone 'utc')::date - 90, 13, 1)`.execute(t.services.db);
    await sql`UPDATE referral_codes SET visits_total = visits_total + 31 WHERE code = ${code}`.execute(
      t.services.db,
    );
    const before = await totals(t, code);
    const pruned = await pruneVisits(t.services.db);
    expect(pruned.visitDays).toBeGreaterThanOrEqual(2);
    const after = await totals(t, code);
    expect(after.visitsTotal).toBe(before.visitsTotal); // 1 + 31 lifetime, untouched
    expect(after.visitsTotal).toBe(32);
    expect(after.dayVisits).toBe(1 + 7); // today and day −27 kept; −28 and −90 dropped
  });

  it("writes buffered visits when the instance closes (the SIGTERM path)", async () => {
    const env = { RATE_LIMIT_PUBLIC: "0", VISIT_FLUSH_MS: "60000", VISIT_FLUSH_MAX: "1000000" };
    const own = await startTestInstance(env);
    let code = "";
    let reader: TestInstance | undefined;
    try {
      code = await makeReferrer(own, "m_shutdown");
      await Promise.all(
        Array.from({ length: 50 }, () => own.request("POST", "/v1/track", { body: { code } })),
      );
      expect(own.services.visits!.size).toBe(50);
      if (TEST_DB === "postgres") {
        // A second instance on the same schema outlives the first and reads what close() wrote.
        reader = await startTestInstance({ ...env, DATABASE_SCHEMA: own.schema! });
      }
    } finally {
      await own.close();
    }
    if (reader) {
      expect((await totals(reader, code)).visitsTotal).toBe(50);
      await reader.close();
    } else {
      // PGlite lives in-process and is gone with its instance: the buffer is empty, so it was written.
      expect(own.services.visits!.size).toBe(0);
    }
  });
});

describe.skipIf(TEST_DB !== "postgres")("visits across two service instances on one Postgres schema", () => {
  let a: TestInstance;
  let b: TestInstance;
  beforeAll(async () => {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const shared = {
      DATABASE_SCHEMA: schema,
      RATE_LIMIT_PUBLIC: "0",
      VISIT_FLUSH_MS: "200",
      VISIT_FLUSH_MAX: "300",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
    };
    a = await startTestInstance(shared);
    b = await startTestInstance(shared);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it(`counts exactly ${LOAD} visits fired at two instances at once, both flushing concurrently`, async () => {
    const code = await makeReferrer(a, "m_two");
    const urls = [a.baseUrl, b.baseUrl].map((url) => url.replace("localhost", "127.0.0.1"));
    const result = await loadVisits({ urls, code, total: LOAD, concurrency: 64 });
    await Promise.all([a.services.visits!.flush(), b.services.visits!.flush()]);
    console.log(`[load postgres 2 instances] ${JSON.stringify(result)}`);
    expect(result.statuses).toEqual({ "302": LOAD });
    // Same IP_HASH_SECRET: a visitor seen by both instances is still one unique visitor.
    expect(await totals(a, code)).toEqual({
      visitsTotal: LOAD,
      uniqueTotal: 100,
      dayVisits: LOAD,
      dayUniques: 100,
    });
  }, 180_000);

  it("shares one rate-limit budget across both instances (Postgres store)", async () => {
    const limitedEnv = {
      DATABASE_SCHEMA: a.schema!,
      RATE_LIMIT_PUBLIC: "6",
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      // Buckets are keyed hashes of the address: instances of one deployment share the secret.
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
    };
    const c = await startTestInstance(limitedEnv);
    const d = await startTestInstance(limitedEnv);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await c.request("GET", "/v1/referral")).status);
      for (let i = 0; i < 4; i += 1) statuses.push((await d.request("GET", "/v1/referral")).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
      const limited = await d.request("GET", "/v1/referral");
      expect(limited.body.code).toBe("rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    } finally {
      await d.close();
      await c.close();
    }
  });
});
