import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { EmptyWebhookKeyError, signWebhook, verifyWebhook } from "../../src/lib/standard-webhooks.js";

/** The ConfigError message for `env`, or fails the test when the configuration is accepted. */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`configuration was accepted: ${JSON.stringify(env)}`);
}

const whsec = (bytes: number) => `whsec_${randomBytes(bytes).toString("base64")}`;

describe("TRUST_PROXY is parsed the way express documents its trust proxy setting", () => {
  it("reads a number as a count of hops, not as an IP address", () => {
    expect(loadConfig({ TRUST_PROXY: "1" }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ TRUST_PROXY: "2" }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: "0" }).TRUST_PROXY).toBe(0);
  });

  it("reads true and false as booleans", () => {
    expect(loadConfig({ TRUST_PROXY: "true" }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "TRUE" }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "false" }).TRUST_PROXY).toBe(false);
  });

  it("reads a comma-separated list of addresses, subnets and names", () => {
    expect(
      loadConfig({
        TRUST_PROXY:
          "loopback, linklocal,uniquelocal, 10.0.0.1, 10.0.0.0/8, 172.16.0.0/255.240.0.0, fd00::/8, ::1",
      }).TRUST_PROXY,
    ).toEqual([
      "loopback",
      "linklocal",
      "uniquelocal",
      "10.0.0.1",
      "10.0.0.0/8",
      "172.16.0.0/255.240.0.0",
      "fd00::/8",
      "::1",
    ]);
    expect(loadConfig({}).TRUST_PROXY).toBeUndefined();
    expect(loadConfig({ TRUST_PROXY: " " }).TRUST_PROXY).toBeUndefined();
  });

  it.each([
    "yes",
    "10.0.0.0/33",
    "fd00::/129",
    "10.0.0.0/255.0.255.0",
    "loopback,proxy.internal",
    "1.5",
    "-1",
    "10.0.0.1/8/8",
    ",",
    "1000",
  ])("refuses TRUST_PROXY=%s at boot, naming the variable", (value) => {
    expect(refusal({ TRUST_PROXY: value })).toMatch(/TRUST_PROXY: /);
  });
});

describe("WEBHOOK_SECRET must carry a real key", () => {
  it.each([
    ["an empty key", "whsec_"],
    ["a 23-byte key", whsec(23)],
    ["a key that is not base64", "whsec_not*base64*at*all*but*long*enough*to*pass"],
    ["no whsec_ prefix", randomBytes(32).toString("base64")],
  ])("refuses %s at boot, naming WEBHOOK_SECRET", (_what, value) => {
    expect(refusal({ WEBHOOK_SECRET: value })).toMatch(/WEBHOOK_SECRET: /);
  });

  it("accepts keys of 24 bytes and more", () => {
    for (const value of [whsec(24), whsec(32), whsec(64)]) {
      expect(loadConfig({ WEBHOOK_SECRET: value }).secrets.webhook).toBe(value);
    }
  });

  it("never verifies a signature made with an empty key, and never makes one", () => {
    const body = Buffer.from('{"type":"order.paid"}');
    const now = Math.floor(Date.now() / 1000);
    // What anyone can compute without knowing any secret: HMAC-SHA256 with an empty key.
    const forged = `v1,${createHmac("sha256", Buffer.alloc(0)).update(`evt_1.${now}.`).update(body).digest("base64")}`;
    for (const secret of ["whsec_", "", "whsec_===="]) {
      expect(
        verifyWebhook(secret, { id: "evt_1", timestamp: String(now), signature: forged }, body, now),
      ).toEqual({
        ok: false,
        reason: "bad_signature",
      });
      expect(() => signWebhook(secret, "evt_1", now, body)).toThrow(EmptyWebhookKeyError);
    }
    const real = whsec(32);
    const signature = signWebhook(real, "evt_1", now, body);
    expect(verifyWebhook(real, { id: "evt_1", timestamp: String(now), signature }, body, now)).toEqual({
      ok: true,
    });
  });
});

describe("NODE_ENV=production never runs on generated secrets", () => {
  const all = () => ({
    WEBHOOK_SECRET: whsec(32),
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(16).toString("hex"),
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
  });

  it("refuses to boot with every secret unset, naming each missing variable", () => {
    const message = refusal({ NODE_ENV: "production" });
    for (const name of [
      "WEBHOOK_SECRET",
      "MEMBER_TOKEN_SECRET",
      "CRON_SECRET",
      "COOKIE_SECRET",
      "IP_HASH_SECRET",
    ]) {
      expect(message).toContain(`${name}: must be set`);
    }
  });

  it("names exactly the one secret that is missing", () => {
    const { CRON_SECRET: _unset, ...env } = all();
    const message = refusal({ NODE_ENV: "production", ...env });
    expect(message).toContain("CRON_SECRET: must be set");
    expect(message).not.toContain("COOKIE_SECRET");
    expect(message).not.toContain("WEBHOOK_SECRET");
  });

  it("boots with every secret configured, and outside production still generates them", () => {
    expect(loadConfig({ NODE_ENV: "production", ...all() }).generatedSecrets).toEqual([]);
    expect(loadConfig({ NODE_ENV: "development" }).generatedSecrets).toHaveLength(5);
    expect(loadConfig({ NODE_ENV: "test" }).generatedSecrets).toHaveLength(5);
  });
});
