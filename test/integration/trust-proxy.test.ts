import { describe, expect, it } from "vitest";
import { startTestInstance, TEST_DB } from "../support/harness.js";

describe(`TRUST_PROXY as express documents it (${TEST_DB})`, () => {
  it("TRUST_PROXY=1 trusts one hop: the address the proxy appended is the client, and spoofed entries before it buy nothing", async () => {
    const t = await startTestInstance({
      RATE_LIMIT_PUBLIC: "2",
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      TRUST_PROXY: "1",
    });
    try {
      const hit = (forwardedFor: string) =>
        t.request("GET", "/v1/referral", { headers: { "x-forwarded-for": forwardedFor } });
      const a = [
        (await hit("198.51.100.1")).status,
        (await hit("6.6.6.6, 198.51.100.1")).status,
        (await hit("7.7.7.7, 198.51.100.1")).status,
      ];
      expect(a).toEqual([200, 200, 429]);
      expect((await hit("198.51.100.2")).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("TRUST_PROXY=true boots and takes the left-most forwarded address", async () => {
    const t = await startTestInstance({
      RATE_LIMIT_PUBLIC: "1",
      RATE_LIMIT_WINDOW_SECONDS: "3600",
      TRUST_PROXY: "true",
    });
    try {
      const hit = (forwardedFor: string) =>
        t.request("GET", "/v1/referral", { headers: { "x-forwarded-for": forwardedFor } });
      expect((await hit("198.51.100.7, 10.0.0.1")).status).toBe(200);
      expect((await hit("198.51.100.7, 10.0.0.2")).status).toBe(429);
      expect((await hit("198.51.100.8, 10.0.0.1")).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it("TRUST_PROXY=false and TRUST_PROXY=0 ignore X-Forwarded-For", async () => {
    for (const value of ["false", "0"]) {
      const t = await startTestInstance({
        RATE_LIMIT_PUBLIC: "1",
        RATE_LIMIT_WINDOW_SECONDS: "3600",
        TRUST_PROXY: value,
      });
      try {
        const hit = (forwardedFor: string) =>
          t.request("GET", "/v1/referral", { headers: { "x-forwarded-for": forwardedFor } });
        expect((await hit("198.51.100.1")).status).toBe(200);
        expect((await hit("198.51.100.2")).status).toBe(429);
      } finally {
        await t.close();
      }
    }
  });
});
