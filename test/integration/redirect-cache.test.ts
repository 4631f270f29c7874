import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codesChanged } from "../../src/attribution/code-cache.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * The /r/:code hot path: a plain node:http handler, codes from an in-process cache that follows
 * code_cache_version, and a rate limiter that counts locally and flushes. Fails on the code before
 * it: no code cache module, no /metrics lines, a write per request, IPv6 keyed by /128.
 */

function headerNames(res: { headers: Headers }): string[] {
  const names: string[] = [];
  res.headers.forEach((_value, name) => {
    names.push(name);
  });
  return names
    .filter((name) => !["set-cookie", "date", "x-request-id", "content-length"].includes(name))
    .sort();
}

async function referrer(t: TestInstance, memberId: string, vanity?: string) {
  const key = t.keys.integration;
  await t.request("POST", "/v1/members", { key, body: { memberId, displayName: `name of ${memberId}` } });
  const issued = await t.request("POST", `/v1/members/${memberId}/code`, {
    key,
    body: vanity ? { vanity } : {},
  });
  return issued.body.code as string;
}

/** True when /r/CODE redirects with the cookie and ?ref=CODE. */
async function redirects(t: TestInstance, code: string): Promise<boolean> {
  const res = await t.request("GET", `/r/${code}`);
  expect(res.status).toBe(302);
  const cookie = res.headers.getSetCookie().some((c) => c.startsWith(`tw_ref=${code}.`));
  const ref = (res.headers.get("location") ?? "").endsWith(`?ref=${code}`);
  expect(cookie).toBe(ref);
  return ref;
}

async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function visitsTotal(t: TestInstance, code: string): Promise<number> {
  const row = await t.services.db
    .selectFrom("referral_codes")
    .select("visits_total")
    .where("code", "=", code)
    .executeTakeFirstOrThrow();
  return Number(row.visits_total);
}

describe(`GET /r/:code on the hot path (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance({
      RATE_LIMIT_PUBLIC: "0",
      VISIT_FLUSH_MS: "60000",
      VISIT_FLUSH_MAX: "1000000",
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("answers known and unknown codes with 302 and the same headers but the cookies, from the fast handler", async () => {
    const code = await referrer(t, "m_hot_headers");
    // Right after a change this process reads codes from the database for ~100 ms (see codesChanged).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const known = await t.request("GET", `/r/${code}`, { headers: { "x-request-id": "req-known.1" } });
    const unknown = await t.request("GET", "/r/ZZZZ9999");
    const malformed = await t.request("GET", `/r/${encodeURIComponent("//evil.example")}`);
    for (const res of [known, unknown, malformed]) {
      expect(res.status).toBe(302);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    }
    expect(headerNames(unknown)).toEqual(headerNames(known));
    expect(headerNames(malformed)).toEqual(headerNames(known));
    expect(known.headers.get("x-request-id")).toBe("req-known.1");
    expect(unknown.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await t.request("GET", "/r/ZZZZ9999", { headers: { "x-request-id": "bad id with spaces" } });
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    const landing = t.services.config.landingUrl;
    expect(known.headers.get("location")).toBe(`${landing}?ref=${code}`);
    expect(unknown.headers.get("location")).toBe(landing);
    const cookies = known.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(
      new RegExp(
        `^tw_ref=${code}\\.[0-9a-z]+\\.[A-Za-z0-9_-]{43}; Max-Age=2592000; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Lax$`,
      ),
    );
    expect(cookies[1]).toMatch(
      new RegExp(`^tw_ref_visible=${code}; Max-Age=2592000; Path=/; Expires=[^;]+ GMT; SameSite=Lax$`),
    );
    expect(unknown.headers.getSetCookie()).toEqual([]);

    // Served by the node:http handler (counted there, not logged per request), codes from the cache.
    const metrics = await t.request("GET", "/metrics");
    expect(metrics.text).toMatch(/^twinrail_redirects_total [1-9][0-9]*$/m);
    expect(metrics.text).toMatch(/^twinrail_code_cache_hits_total [1-9][0-9]*$/m);
    expect(t.services.codeCache!.stats.complete).toBe(true);
  });

  it("keeps express's edge cases: HEAD, a trailing slash, a second segment, a bad escape", async () => {
    const code = await referrer(t, "m_hot_edges");
    expect((await t.request("HEAD", `/r/${code}`)).status).toBe(302);
    const slash = await t.request("GET", `/r/${code}/`);
    expect(slash.status).toBe(302);
    expect(slash.headers.get("location")).toContain(`?ref=${code}`);
    expect((await t.request("GET", `/r/${code}/more`)).status).toBe(404);
    expect((await t.request("GET", "/r/%E0%A4%A")).status).toBe(400);
  });

  it("stops redirecting a rotated code at once in this instance, and starts a new vanity code at once", async () => {
    const old = await referrer(t, "m_hot_rotate");
    expect(await redirects(t, old)).toBe(true);
    // Looked up (and answered as unknown) before it exists: the cache must not keep that answer.
    expect(await redirects(t, "HOTVANITY7")).toBe(false);
    const rotated = await t.request("POST", "/v1/members/m_hot_rotate/code", {
      key: t.keys.integration,
      body: { vanity: "HOTVANITY7" },
    });
    expect(rotated.body.code).toBe("HOTVANITY7");
    expect(await redirects(t, old)).toBe(false);
    expect(await redirects(t, "HOTVANITY7")).toBe(true);
    expect((await t.request("GET", `/v1/referral?code=${old}`)).body.applied).toBe(false);
  });

  it("shows a changed display name at once on /v1/referral", async () => {
    const code = await referrer(t, "m_hot_name");
    expect((await t.request("GET", `/v1/referral?code=${code}`)).body.referrer).toEqual({
      displayName: "name of m_hot_name",
    });
    await t.request("PATCH", "/v1/members/m_hot_name", {
      key: t.keys.integration,
      body: { displayName: "Renamed" },
    });
    expect((await t.request("GET", `/v1/referral?code=${code}`)).body.referrer).toEqual({
      displayName: "Renamed",
    });
  });

  it("follows a change made by another process (no in-process hook) within a second", async () => {
    const code = await referrer(t, "m_hot_external");
    expect(await redirects(t, code)).toBe(true);
    await sql`UPDATE referral_codes SET active = false, deactivated_at = now() WHERE code = ${code}`.execute(
      t.services.db,
    );
    const took = await within(1000, async () => !(await redirects(t, code)));
    console.log(
      `[redirect-cache ${TEST_DB}] same instance, external change seen after ${took.toFixed(0)} ms`,
    );
  });

  it("does not put back the old state when a lookup races the change (codesChanged before commit)", async () => {
    const code = await referrer(t, "m_hot_race");
    expect(await redirects(t, code)).toBe(true);
    codesChanged();
    // While the change is announced and not committed, lookups go to the database and are not kept.
    expect(await redirects(t, code)).toBe(true);
    await sql`UPDATE referral_codes SET active = false, deactivated_at = now() WHERE code = ${code}`.execute(
      t.services.db,
    );
    expect(await redirects(t, code)).toBe(false);
  });

  it("counts every visit exactly after concurrent hits", async () => {
    const code = await referrer(t, "m_hot_visits");
    const total = 3000;
    let next = 0;
    const statuses: Record<number, number> = {};
    const base = t.baseUrl.replace("localhost", "127.0.0.1");
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < total) {
          next += 1;
          const res = await fetch(`${base}/r/${code}`, {
            redirect: "manual",
            headers: { "user-agent": `ua/${next % 10}` },
          });
          await res.arrayBuffer();
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        }
      }),
    );
    await t.services.visits!.flush();
    expect(statuses).toEqual({ 302: total });
    expect(await visitsTotal(t, code)).toBe(total);
  }, 60_000);
});

describe(`the shared rate limit without a write per request (${TEST_DB})`, () => {
  it("still answers 429 problem+json after a small limit", async () => {
    const t = await startTestInstance({ RATE_LIMIT_PUBLIC: "5", RATE_LIMIT_WINDOW_SECONDS: "3600" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await t.request("GET", "/r/ANYCODE1")).status);
      expect(statuses).toEqual([302, 302, 302, 302, 302, 429, 429]);
      const limited = await t.request("GET", "/r/ANYCODE1", { headers: { "x-request-id": "rl-1" } });
      expect(limited.status).toBe(429);
      expect(limited.headers.get("content-type")).toBe("application/problem+json; charset=utf-8");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(limited.headers.get("ratelimit-remaining")).toBe("0");
      expect(limited.headers.get("x-content-type-options")).toBe("nosniff");
      expect(limited.body).toMatchObject({
        type: "https://twinrail.dev/problems/rate_limited",
        title: "rate limited",
        status: 429,
        code: "rate_limited",
        requestId: "rl-1",
        limit: 5,
        windowSeconds: 3600,
      });
      expect(limited.body.detail).toMatch(/^too many requests from this address; retry in [0-9]+ s$/);
      // The express surfaces share the budget.
      expect((await t.request("GET", "/v1/referral")).status).toBe(429);
    } finally {
      await t.close();
    }
  });

  it("counts in memory and writes once per flush, not per request", async () => {
    const t = await startTestInstance({ RATE_LIMIT_PUBLIC: "1000", RATE_LIMIT_WINDOW_SECONDS: "3600" });
    try {
      const limiter = t.services.rateLimiter!;
      // Stop the periodic flush (close() writes what is pending and stops the timer; counting goes on).
      await limiter.close();
      const stored = async () =>
        Number(
          (
            await sql<{ n: string }>`SELECT coalesce(sum(hits), 0)::text AS n FROM rate_limit_hits`.execute(
              t.services.db,
            )
          ).rows[0]?.n ?? 0,
        );
      const before = await stored();
      for (let i = 0; i < 50; i += 1) await t.request("GET", "/r/ANYCODE1");
      // 50 admitted, not one written: the store sees them at the next flush only.
      expect(await stored()).toBe(before);
      await limiter.flush();
      expect((await stored()) - before).toBe(50);
      expect(limiter.stats.allowedLocal).toBeGreaterThanOrEqual(50);
    } finally {
      await t.close();
    }
  });

  it("lets requests through when the store is unavailable", async () => {
    const t = await startTestInstance({ RATE_LIMIT_PUBLIC: "5", RATE_LIMIT_WINDOW_SECONDS: "3600" });
    try {
      // This instance's own schema (or PGlite): the store goes away under it.
      await sql`DROP TABLE rate_limit_hits`.execute(t.services.db);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i += 1) statuses.push((await t.request("GET", "/r/ANYCODE1")).status);
      expect(statuses).toEqual([302, 302, 302]);
      expect(t.services.rateLimiter!.stats.storeFailures).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });

  it("keys IPv6 clients by their /64", async () => {
    const t = await startTestInstance({
      RATE_LIMIT_PUBLIC: "3",
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      TRUST_PROXY: "loopback",
    });
    try {
      const hit = async (ip: string) =>
        (await t.request("GET", "/r/ANYCODE1", { headers: { "x-forwarded-for": ip } })).status;
      const sameSubnet = [
        await hit("2001:db8:7:1::1"),
        await hit("2001:db8:7:1::2"),
        await hit("2001:db8:7:1:aaaa::3"),
        await hit("2001:db8:7:1:ffff:ffff:ffff:ffff"),
      ];
      expect(sameSubnet).toEqual([302, 302, 302, 429]);
      expect(await hit("2001:db8:7:2::1")).toBe(302);
      expect(await hit("::ffff:198.51.100.9")).toBe(302);
    } finally {
      await t.close();
    }
  });
});

describe.skipIf(TEST_DB !== "postgres")("two instances on one Postgres schema", () => {
  let a: TestInstance;
  let b: TestInstance;
  beforeAll(async () => {
    const shared = {
      DATABASE_SCHEMA: `t_${randomBytes(6).toString("hex")}`,
      RATE_LIMIT_PUBLIC: "0",
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

  it("stops redirecting a rotated code in the other instance within a second", async () => {
    const old = await referrer(a, "m_two_rotate");
    await within(1000, () => redirects(b, old));
    const rotated = await a.request("POST", "/v1/members/m_two_rotate/code", {
      key: a.keys.integration,
      body: { rotate: true },
    });
    const fresh = rotated.body.code as string;
    const started = performance.now();
    expect(await redirects(a, old)).toBe(false);
    expect(await redirects(a, fresh)).toBe(true);
    await within(1000, async () => !(await redirects(b, old)));
    await within(1000, () => redirects(b, fresh));
    const took = performance.now() - started;
    console.log(
      `[redirect-cache postgres] second instance followed the rotation after ${took.toFixed(0)} ms`,
    );
    expect(took).toBeLessThan(1000);

    // A change no process announced (another deployment, psql): both follow the version row alone.
    // First let the ~100 ms after the rotation pass, so that both answer from memory again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const hitsBefore = b.services.codeCache!.stats.hits;
    expect(await redirects(b, fresh)).toBe(true);
    expect(b.services.codeCache!.stats.hits).toBe(hitsBefore + 1);
    await sql`UPDATE referral_codes SET active = false, deactivated_at = now() WHERE code = ${fresh}`.execute(
      a.services.db,
    );
    const seen = await Promise.all([
      within(1000, async () => !(await redirects(a, fresh))),
      within(1000, async () => !(await redirects(b, fresh))),
    ]);
    console.log(
      `[redirect-cache postgres] unannounced change seen after ${seen.map((ms) => ms.toFixed(0)).join(" / ")} ms`,
    );
  });

  it("shares the rate limit: exact for a small limit, within the documented bound for a larger one", async () => {
    const env = (limit: number) => ({
      DATABASE_SCHEMA: a.schema!,
      RATE_LIMIT_PUBLIC: String(limit),
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
    });
    // ≤ 10: every admission is one atomic upsert, so two instances share it exactly.
    const small = env(6);
    const c = await startTestInstance(small);
    const d = await startTestInstance(small);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) statuses.push((await c.request("GET", "/r/ANYCODE1")).status);
      for (let i = 0; i < 4; i += 1) statuses.push((await d.request("GET", "/r/ANYCODE1")).status);
      expect(statuses).toEqual([302, 302, 302, 302, 302, 302, 429, 429]);
    } finally {
      await d.close();
      await c.close();
    }

    // 100: margin 10, so each instance admits ≤ 90 locally between flushes. Bound for N = 2:
    // limit + N × (limit − margin) = 280 admitted at the very most; after a flush both refuse.
    const large = env(100);
    const e = await startTestInstance(large);
    const f = await startTestInstance(large);
    try {
      let admitted = 0;
      const burst = async (t: TestInstance, n: number) => {
        await Promise.all(
          Array.from({ length: n }, async () => {
            if ((await t.request("GET", "/r/ANYCODE1")).status === 302) admitted += 1;
          }),
        );
      };
      await Promise.all([burst(e, 150), burst(f, 150)]);
      await Promise.all([e.services.rateLimiter!.flush(), f.services.rateLimiter!.flush()]);
      await new Promise((resolve) => setTimeout(resolve, 600));
      await Promise.all([burst(e, 20), burst(f, 20)]);
      console.log(`[rate-limit postgres] limit 100, 2 instances, 340 requests: ${admitted} admitted`);
      expect(admitted).toBeGreaterThanOrEqual(100);
      expect(admitted).toBeLessThanOrEqual(100 + 2 * 90);
      expect((await e.request("GET", "/r/ANYCODE1")).status).toBe(429);
      expect((await f.request("GET", "/r/ANYCODE1")).status).toBe(429);
    } finally {
      await f.close();
      await e.close();
    }
  });
});
