import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signCookieValue } from "../../src/lib/cookies.js";
import { orderBody, seedCatalog, startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

function setCookies(res: { headers: Headers }): string[] {
  return res.headers.getSetCookie();
}

describe(`attribution security (${TEST_DB})`, () => {
  let t: TestInstance;
  let key: string;
  let landing: string;
  beforeAll(async () => {
    t = await startTestInstance({ RATE_LIMIT_PUBLIC: "0" });
    key = t.keys.integration;
    await seedCatalog(t);
    landing = t.services.config.landingUrl;
  });
  afterAll(async () => {
    await t?.close();
  });

  describe("code normalization attacks", () => {
    const attacks: Array<[string, string]> = [
      ["zero-width space inside", "ANNA\u200b7F3K"],
      ["zero-width space at the end", "ANNA7F3K\u200b"],
      ["zero-width joiner", "ANNA\u200d7F3K"],
      ["byte-order mark in front", "\ufeffANNA7F3K"],
      ["Cyrillic А (mixed scripts)", "\u0410NNA7F3K"],
      ["Greek Α (mixed scripts)", "\u0391NNA7F3K"],
      ["RTL override", "\u202eK3F7ANNA"],
      ["RTL isolate around the code", "\u2067ANNA7F3K\u2069"],
      ["combining mark", "ANNA7F3K\u0301"],
      ["dotless i upper-cases to I", "ANNA7F3\u0131"],
      ["inner space", "ANNA 7F3K"],
      ["percent-encoded", "ANNA%37F3K"],
    ];

    it.each(attacks)("refuses %s at signup (unknown_code), never matching ANNA7F3K", async (_name, raw) => {
      const memberId = `m_norm_${Buffer.from(raw).toString("hex").slice(0, 40)}`;
      const res = await t.request("POST", "/v1/members", { key, body: { memberId, refCode: raw } });
      expect(res.status).toBe(201);
      expect(res.body.referredBy).toBeNull();
      expect(res.body.attribution).toEqual({ applied: false, reason: "unknown_code" });
    });

    it.each(
      attacks,
    )("refuses %s as a vanity code (400) and on /r/ (no cookie, no ref)", async (_name, raw) => {
      await t.request("POST", "/v1/members", { key, body: { memberId: "m_vanity_attacker" } });
      const vanity = await t.request("POST", "/v1/members/m_vanity_attacker/code", {
        key,
        body: { vanity: raw },
      });
      expect(vanity.status).toBe(400);
      const link = await t.request("GET", `/r/${encodeURIComponent(raw)}`);
      expect(link.status).toBe(302);
      expect(link.headers.get("location")).toBe(landing);
      expect(setCookies(link)).toEqual([]);
    });

    it("accepts the NFKC fold of fullwidth letters, which shows the very same code", async () => {
      const res = await t.request("GET", "/v1/referral?code=%EF%BC%A1NNA7F3K"); // "ＡNNA7F3K"
      expect(res.body).toMatchObject({ applied: true, code: "ANNA7F3K" });
    });
  });

  describe("cookie tampering", () => {
    const secret = () => t.services.config.secrets.cookie;

    it("ignores a forged tw_ref everywhere: badge, checkout, signup", async () => {
      await t.request("POST", "/v1/members", { key, body: { memberId: "m_mallory" } });
      const mallory = (await t.request("POST", "/v1/members/m_mallory/code", { key, body: {} })).body
        .code as string;
      const genuine = signCookieValue(secret(), "ANNA7F3K");
      const forgeries = [
        mallory, // unsigned
        `${mallory}.${genuine.split(".")[1]}.${genuine.split(".")[2]}`, // Anna's signature on Mallory's code
        signCookieValue("x".repeat(40), mallory), // signed with another secret
        `${genuine}x`, // signature altered
        signCookieValue(secret(), mallory, new Date(Date.now() - 400 * 86_400_000)), // genuine but expired
      ];
      for (const [index, forged] of forgeries.entries()) {
        const cookie = `tw_ref=${encodeURIComponent(forged)}; tw_ref_visible=${mallory}`;
        const badge = await t.request("GET", "/v1/referral", { headers: { cookie } });
        expect(badge.body.applied).toBe(false);
        const order = await t.request("POST", "/v1/orders", {
          key,
          headers: { cookie },
          body: orderBody(`ord_forged_${index}`, { refCode: null }),
        });
        expect(order.body.referralApplied).toBe(false);
        const signup = await t.request("POST", "/v1/members", {
          key,
          headers: { cookie },
          body: { memberId: `m_forged_${index}` },
        });
        expect(signup.body.referredBy).toBeNull();
      }
    });

    it("does not let a forged cookie block first touch: the genuine link replaces it", async () => {
      const res = await t.request("GET", "/r/ANNA7F3K", { headers: { cookie: "tw_ref=EVIL1234.0.AAAA" } });
      expect(setCookies(res)[0]).toMatch(/^tw_ref=ANNA7F3K\./);
    });
  });

  describe("open redirects and header injection", () => {
    const paths = [
      "/r/%2F%2Fevil.com",
      "/r/..%2F",
      "/r/..%2F..%2Fevil.com",
      "/r/https:%2F%2Fevil.com",
      "/r/%5C%5Cevil.com",
      "/r/%09%2F%2Fevil.com",
      "/r/ANNA7F3K%0D%0ALocation:%20https:%2F%2Fevil.com",
      "/r/ANNA7F3K%0D%0ASet-Cookie:%20tw_ref=EVIL",
      "/r/ANNA7F3K?next=https://evil.com&redirect=//evil.com",
      "/r/ANNA7F3K%23@evil.com",
      "/r/ANNA7F3K%3F@evil.com",
    ];
    it.each(paths)("%s redirects only to the configured landing page", async (path) => {
      const res = await t.request("GET", path);
      expect(res.status).toBe(302);
      const location = res.headers.get("location") ?? "";
      expect(location === landing || location === `${landing}?ref=ANNA7F3K`).toBe(true);
      expect(new URL(location).origin).toBe(new URL(landing).origin);
      const pairs: Array<[string, string]> = [];
      res.headers.forEach((value, name) => {
        pairs.push([name, value]);
      });
      for (const [name, value] of pairs) {
        expect(`${name}: ${value}`.toLowerCase()).not.toContain("evil");
      }
    });
  });

  describe("no enumeration oracle", () => {
    it("answers unknown and valid codes with the same status and the same header names", async () => {
      const valid = await t.request("GET", "/r/ANNA7F3K");
      const unknown = await t.request("GET", "/r/ZZZZ2345");
      expect(unknown.status).toBe(valid.status);
      const names = (res: { headers: Headers }) =>
        ((): string[] => {
          const keys: string[] = [];
          res.headers.forEach((_v, k) => {
            keys.push(k);
          });
          return keys;
        })()
          .filter((n) => !["set-cookie", "date", "x-request-id", "content-length"].includes(n))
          .sort();
      expect(names(unknown)).toEqual(names(valid));
      for (const code of ["ANNA7F3K", "ZZZZ2345", "\u0410NNA7F3K", ""]) {
        const tracked = await t.request("POST", "/v1/track", { body: { code } });
        expect(tracked.status).toBe(204);
        expect(tracked.text).toBe("");
      }
    });

    it("takes the same time for unknown and valid codes (medians within noise)", async () => {
      const time = async (code: string) => {
        const started = performance.now();
        await t.request("POST", "/v1/track", { body: { code } });
        return performance.now() - started;
      };
      // Warm up, then interleave so that drift affects both sides alike.
      for (let i = 0; i < 20; i += 1) await Promise.all([time("ANNA7F3K"), time("QQQQ2345")]);
      const valid: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 200; i += 1) {
        valid.push(await time("ANNA7F3K"));
        unknown.push(await time(`Q${String(i).padStart(3, "0")}UNKNOWN`));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const [mv, mu] = [median(valid), median(unknown)];
      console.log(`[timing ${TEST_DB}] median valid ${mv.toFixed(3)} ms, unknown ${mu.toFixed(3)} ms`);
      // Generous: within 1 ms or 35% of the slower median, whichever is larger.
      expect(Math.abs(mv - mu)).toBeLessThan(Math.max(1, 0.35 * Math.max(mv, mu)));
    });
  });

  describe("rate limits", () => {
    it("limits public endpoints per client address; a spoofed X-Forwarded-For without TRUST_PROXY buys nothing", async () => {
      const limited = await startTestInstance({ RATE_LIMIT_PUBLIC: "3", RATE_LIMIT_WINDOW_SECONDS: "3600" });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i += 1) {
          const res = await limited.request("GET", "/r/ANNA7F3K", {
            headers: { "x-forwarded-for": `10.0.0.${i}` },
          });
          statuses.push(res.status);
        }
        expect(statuses).toEqual([302, 302, 302, 429, 429]);
        const res = await limited.request("POST", "/v1/track", { body: { code: "ANNA7F3K" } });
        expect(res.status).toBe(429);
        expect(res.body.code).toBe("rate_limited");
        expect(res.headers.get("retry-after")).toMatch(/^[0-9]+$/);
      } finally {
        await limited.close();
      }
    });

    it("with TRUST_PROXY, each forwarded client gets its own budget", async () => {
      const proxied = await startTestInstance({
        RATE_LIMIT_PUBLIC: "2",
        RATE_LIMIT_WINDOW_SECONDS: "3600",
        TRUST_PROXY: "loopback",
      });
      try {
        const hit = (ip: string) =>
          proxied.request("GET", "/v1/referral", { headers: { "x-forwarded-for": ip } });
        const a = [await hit("198.51.100.1"), await hit("198.51.100.1"), await hit("198.51.100.1")].map(
          (r) => r.status,
        );
        const b = (await hit("198.51.100.2")).status;
        expect(a).toEqual([200, 200, 429]);
        expect(b).toBe(200);
      } finally {
        await proxied.close();
      }
    });
  });
});
