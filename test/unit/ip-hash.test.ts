import { describe, expect, it } from "vitest";
import { ipHash, normalizeIp, visitorHash } from "../../src/attribution/ip-hash.js";

const SECRET = "s".repeat(32);
const DAY = "2026-12-01";

describe("IPv6 keying by subnet (ipHash, normalizeIp, visitorHash)", () => {
  it("gives two addresses in the same /64 the same hash", () => {
    expect(ipHash(SECRET, "2001:db8:1:2::1")).toBe(ipHash(SECRET, "2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
    expect(ipHash(SECRET, "2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe(ipHash(SECRET, "2001:db8:1:2::"));
    expect(visitorHash(SECRET, DAY, "2001:db8:1:2::1", "UA")).toBe(
      visitorHash(SECRET, DAY, "2001:db8:1:2::2", "UA"),
    );
  });

  it("keeps different /64s apart", () => {
    expect(ipHash(SECRET, "2001:db8:1:2::1")).not.toBe(ipHash(SECRET, "2001:db8:1:3::1"));
    expect(ipHash(SECRET, "2001:db8:1:2::1")).not.toBe(ipHash(SECRET, "2001:db9:1:2::1"));
    expect(visitorHash(SECRET, DAY, "2001:db8:1:2::1", "UA")).not.toBe(
      visitorHash(SECRET, DAY, "2001:db8:1:3::1", "UA"),
    );
  });

  it("treats IPv4-mapped IPv6 as the IPv4 address, in dotted and in hex form", () => {
    expect(ipHash(SECRET, "::ffff:192.0.2.7")).toBe(ipHash(SECRET, "192.0.2.7"));
    expect(ipHash(SECRET, "::ffff:c000:207")).toBe(ipHash(SECRET, "192.0.2.7"));
    expect(ipHash(SECRET, "0:0:0:0:0:ffff:192.0.2.7")).toBe(ipHash(SECRET, "192.0.2.7"));
    expect(normalizeIp("::FFFF:127.0.0.1")).toBe("127.0.0.1");
    // IPv4 addresses stay whole: neighbours are different clients.
    expect(ipHash(SECRET, "192.0.2.7")).not.toBe(ipHash(SECRET, "192.0.2.8"));
  });

  it("equals compressed, expanded, upper-case, zero-padded and zoned spellings", () => {
    const forms = [
      "2001:db8:0:0:1::1",
      "2001:0db8:0000:0000:0001:0000:0000:0001",
      "2001:DB8::1:0:0:1",
      " 2001:db8:0:0:1:0:0:1 ",
      "2001:db8::1:0:0:1%eth0",
    ];
    const hashes = new Set(forms.map((form) => ipHash(SECRET, form)));
    expect(hashes.size).toBe(1);
    expect(normalizeIp("2001:db8::1:0:0:1")).toBe("2001:0db8:0000:0000:0000:0000:0000:0000/64");
    expect(normalizeIp("::1")).toBe("0000:0000:0000:0000:0000:0000:0000:0000/64");
  });

  it("honours another prefix (IPV6_SUBNET_PREFIX)", () => {
    expect(ipHash(SECRET, "2001:db8:1:2::1", 128)).not.toBe(ipHash(SECRET, "2001:db8:1:2::2", 128));
    expect(ipHash(SECRET, "2001:db8:1:2::1", 48)).toBe(ipHash(SECRET, "2001:db8:1:ffff::1", 48));
    expect(ipHash(SECRET, "2001:db8:1:2::1", 56)).toBe(ipHash(SECRET, "2001:db8:1:ff::1", 56));
    expect(ipHash(SECRET, "2001:db8:1:2::1", 56)).not.toBe(ipHash(SECRET, "2001:db8:1:100::1", 56));
    expect(normalizeIp("2001:db8:1:2::1", 60)).toBe("2001:0db8:0001:0000:0000:0000:0000:0000/60");
  });

  it("leaves strings that are not addresses as they were (trimmed, lower-case)", () => {
    expect(normalizeIp(" Unknown ")).toBe("unknown");
    expect(normalizeIp("2001:db8::1::2")).toBe("2001:db8::1::2");
  });
});
