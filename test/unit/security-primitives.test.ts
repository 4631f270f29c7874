import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { signCookieValue, verifyCookieValue } from "../../src/lib/cookies.js";
import { canonicalJson, constantTimeEqual } from "../../src/lib/crypto.js";
import { signMemberToken, verifyMemberToken } from "../../src/lib/member-token.js";
import { signWebhook, verifyWebhook } from "../../src/lib/standard-webhooks.js";

const SECRET = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;

describe("Standard Webhooks signatures", () => {
  const body = Buffer.from('{"type":"order.paid"}');
  const now = 1_800_000_000;

  it("accepts a signature over id.timestamp.body made with the secret", () => {
    const signature = signWebhook(SECRET, "evt_1", now, body);
    expect(verifyWebhook(SECRET, { id: "evt_1", timestamp: String(now), signature }, body, now)).toEqual({
      ok: true,
    });
  });

  it("matches the Standard Webhooks reference vector", () => {
    // From the standard-webhooks spec test suite.
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const payload = Buffer.from('{"test": 2432232314}');
    expect(signWebhook(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, payload)).toBe(
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
  });

  it("accepts any one of several space-separated signatures (key rotation)", () => {
    const good = signWebhook(SECRET, "evt_1", now, body);
    expect(
      verifyWebhook(SECRET, { id: "evt_1", timestamp: String(now), signature: `v1,AAAA ${good}` }, body, now)
        .ok,
    ).toBe(true);
  });

  it("refuses another id, a changed body, a stale or future timestamp and missing headers", () => {
    const signature = signWebhook(SECRET, "evt_1", now, body);
    expect(verifyWebhook(SECRET, { id: "evt_2", timestamp: String(now), signature }, body, now)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(
      verifyWebhook(SECRET, { id: "evt_1", timestamp: String(now), signature }, Buffer.from("{}"), now).ok,
    ).toBe(false);
    expect(
      verifyWebhook(SECRET, { id: "evt_1", timestamp: String(now), signature }, body, now + 301),
    ).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(
      verifyWebhook(SECRET, { id: "evt_1", timestamp: String(now), signature }, body, now - 301),
    ).toEqual({ ok: false, reason: "stale_timestamp" });
    expect(verifyWebhook(SECRET, { id: "evt_1", timestamp: "1e9", signature }, body, now).ok).toBe(false);
    expect(verifyWebhook(SECRET, { id: "evt_1", signature }, body, now)).toEqual({
      ok: false,
      reason: "missing_headers",
    });
  });
});

describe("member tokens (HS256 JWT)", () => {
  const secret = "s".repeat(40);
  it("round-trips the member id", () => {
    expect(verifyMemberToken(secret, signMemberToken(secret, "m_anna"))).toEqual({ memberId: "m_anna" });
  });
  it("refuses an expired token, another secret, alg none and a token without exp", () => {
    const now = Date.now();
    expect(
      verifyMemberToken(secret, signMemberToken(secret, "m_anna", 60, now - 120_000), now),
    ).toBeUndefined();
    expect(verifyMemberToken("t".repeat(40), signMemberToken(secret, "m_anna"))).toBeUndefined();
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    expect(
      verifyMemberToken(secret, `${b64({ alg: "none" })}.${b64({ sub: "m_anna", exp: 9e9 })}.`),
    ).toBeUndefined();
    const [header] = signMemberToken(secret, "x").split(".");
    const payload = b64({ sub: "m_anna" });
    const sig = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
    expect(verifyMemberToken(secret, `${header}.${payload}.${sig}`)).toBeUndefined();
  });
});

describe("signed referral cookie", () => {
  const secret = "c".repeat(40);
  it("verifies its own value and ignores a forged or edited one", () => {
    const signed = signCookieValue(secret, "ANNA7F3K");
    expect(verifyCookieValue(secret, signed)).toBe("ANNA7F3K");
    expect(verifyCookieValue(secret, signed.replace("ANNA7F3K", "EVIL1234"))).toBeUndefined();
    expect(verifyCookieValue(secret, "ANNA7F3K")).toBeUndefined();
    expect(verifyCookieValue("d".repeat(40), signed)).toBeUndefined();
  });
});

describe("crypto helpers", () => {
  it("compares in constant time and still tells different lengths apart", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
  });
  it("hashes equal objects equally whatever their key order, bigints as strings", () => {
    expect(canonicalJson({ b: 1n, a: [{ y: 1, x: 2 }] })).toBe(canonicalJson({ a: [{ x: 2, y: 1 }], b: 1n }));
    expect(canonicalJson({ a: 1n })).toBe('{"a":"1"}');
  });
});

describe("config", () => {
  it("boots with no configuration (embedded demo) and generates the missing secrets", () => {
    const config = loadConfig({});
    expect(config.embeddedChain).toBe(true);
    expect(config.demo).toBe(true);
    expect(config.REFERRAL_COMMISSION_BPS).toBe(500);
    expect(config.TOKEN_WEI_PER_MINOR_UNIT.UAH).toBe(10_000_000_000_000_000n);
    expect(config.generatedSecrets).toContain("WEBHOOK_SECRET");
    expect(Object.isFrozen(config)).toBe(true);
  });
  it("stops boot naming every wrong variable", () => {
    try {
      loadConfig({
        PORT: "http",
        ATTRIBUTION_WINDOW_DAYS: "731",
        WEBHOOK_SECRET: "plain",
        TOKEN_WEI_PER_MINOR_UNIT: "UAH=1",
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      for (const name of ["PORT", "ATTRIBUTION_WINDOW_DAYS", "WEBHOOK_SECRET", "TOKEN_WEI_PER_MINOR_UNIT"]) {
        expect(message).toContain(name);
      }
    }
  });
  it("refuses a default commission above the maximum and RPC_URL without an operator key", () => {
    expect(() => loadConfig({ REFERRAL_COMMISSION_BPS: "600", REFERRAL_COMMISSION_MAX_BPS: "500" })).toThrow(
      /REFERRAL_COMMISSION_BPS/,
    );
    expect(() => loadConfig({ RPC_URL: "http://127.0.0.1:8545" })).toThrow(/OPERATOR_PRIVATE_KEY/);
  });
});
