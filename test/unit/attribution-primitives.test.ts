import { describe, expect, it } from "vitest";
import { dayKey, ipHash, normalizeIp, utcDay, visitorHash } from "../../src/attribution/ip-hash.js";
import { signCookieValue, verifyCookieValue } from "../../src/lib/cookies.js";

const SECRET = "s".repeat(40);
const DAY_MS = 86_400_000;

describe("signed first-touch cookie", () => {
  it("round-trips a code and refuses one signed with another secret or altered", () => {
    const signed = signCookieValue(SECRET, "ANNA7F3K");
    expect(verifyCookieValue(SECRET, signed)).toBe("ANNA7F3K");
    expect(verifyCookieValue("t".repeat(40), signed)).toBeUndefined();
    const [, issued, mac] = signed.split(".");
    expect(verifyCookieValue(SECRET, `EVIL1234.${issued}.${mac}`)).toBeUndefined();
    expect(
      verifyCookieValue(SECRET, `ANNA7F3K.${(Number.parseInt(issued!, 36) + 1).toString(36)}.${mac}`),
    ).toBeUndefined();
    expect(verifyCookieValue(SECRET, "ANNA7F3K")).toBeUndefined();
    expect(verifyCookieValue(SECRET, `${signed}.extra`)).toBeUndefined();
  });

  it("expires after maxAgeDays even though the signature is genuine, and refuses future issue times", () => {
    const now = new Date("2025-06-01T00:00:00Z");
    const old = signCookieValue(SECRET, "ANNA7F3K", new Date(now.getTime() - 31 * DAY_MS));
    expect(verifyCookieValue(SECRET, old, { maxAgeDays: 30, now })).toBeUndefined();
    expect(verifyCookieValue(SECRET, old, { maxAgeDays: 31, now })).toBe("ANNA7F3K");
    const future = signCookieValue(SECRET, "ANNA7F3K", new Date(now.getTime() + DAY_MS));
    expect(verifyCookieValue(SECRET, future, { now })).toBeUndefined();
  });
});

describe("keyed IP hashes", () => {
  it("rotates visitor ids daily: the same IP and user agent give unlinkable ids on different days", () => {
    const today = visitorHash(SECRET, "2025-06-01", "203.0.113.7", "UA");
    expect(visitorHash(SECRET, "2025-06-01", "203.0.113.7", "UA")).toBe(today);
    expect(visitorHash(SECRET, "2025-06-02", "203.0.113.7", "UA")).not.toBe(today);
    expect(visitorHash(SECRET, "2025-06-01", "203.0.113.7", "UA2")).not.toBe(today);
    expect(today).toMatch(/^[0-9a-f]{32}$/);
    expect(dayKey(SECRET, "2025-06-01").equals(dayKey(SECRET, "2025-06-02"))).toBe(false);
  });

  it("never contains the address, and treats IPv4-mapped IPv6 as the same client", () => {
    const hash = ipHash(SECRET, "203.0.113.7");
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain("203");
    expect(ipHash(SECRET, "::ffff:203.0.113.7")).toBe(hash);
    expect(normalizeIp(" ::FFFF:10.0.0.1 ")).toBe("10.0.0.1");
    expect(ipHash("t".repeat(40), "203.0.113.7")).not.toBe(hash);
  });

  it("uses UTC days", () => {
    expect(utcDay(new Date("2025-06-01T23:59:59-05:00"))).toBe("2025-06-02");
  });
});
