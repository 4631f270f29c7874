import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signCookieValue } from "../../src/lib/cookies.js";
import { orderBody, seedCatalog, startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

const DAY_MS = 86_400_000;

describe(`a forwarded first-touch cookie lives REF_COOKIE_DAYS (${TEST_DB})`, () => {
  let t: TestInstance;
  let key: string;
  beforeAll(async () => {
    t = await startTestInstance({ RATE_LIMIT_PUBLIC: "0", REF_COOKIE_DAYS: "30" });
    key = t.keys.integration;
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const cookieIssuedDaysAgo = (days: number) =>
    `tw_ref=${encodeURIComponent(
      signCookieValue(t.services.config.secrets.cookie, "ANNA7F3K", new Date(Date.now() - days * DAY_MS)),
    )}`;

  it("signup honours a cookie younger than REF_COOKIE_DAYS and ignores an older one", async () => {
    const fresh = await t.request("POST", "/v1/members", {
      key,
      headers: { cookie: cookieIssuedDaysAgo(29) },
      body: { memberId: "m_cookie_29d" },
    });
    expect(fresh.status).toBe(201);
    expect(fresh.body.referredBy).toMatchObject({ memberId: "m_anna", source: "cookie" });

    const stale = await t.request("POST", "/v1/members", {
      key,
      headers: { cookie: cookieIssuedDaysAgo(31) },
      body: { memberId: "m_cookie_31d" },
    });
    expect(stale.status).toBe(201);
    expect(stale.body.referredBy).toBeNull();
  });

  it("checkout honours a cookie younger than REF_COOKIE_DAYS and ignores an older one", async () => {
    const fresh = await t.request("POST", "/v1/orders", {
      key,
      headers: { cookie: cookieIssuedDaysAgo(29) },
      body: orderBody("ord_cookie_29d", { refCode: null }),
    });
    expect(fresh.status).toBe(201);
    expect(fresh.body.referralApplied).toBe(true);

    const stale = await t.request("POST", "/v1/orders", {
      key,
      headers: { cookie: cookieIssuedDaysAgo(31) },
      body: orderBody("ord_cookie_31d", { refCode: null }),
    });
    expect(stale.status).toBe(201);
    expect(stale.body.referralApplied).toBe(false);
  });
});
