import { isIPv4, isIPv6 } from "node:net";
import { hmacSha256 } from "../lib/crypto.js";

/**
 * Keyed hashes of client addresses. Raw IPs are never stored: visitors get an id that rotates every
 * day (the day key is itself an HMAC of `IP_HASH_SECRET` and the date, so no key is ever stored and
 * yesterday's ids cannot be linked to today's); members and orders get one stable keyed hash so that
 * fraud signals can compare a buyer with a referrer who signed up weeks earlier.
 *
 * IPv6 clients are keyed by their subnet, not their full address: one subscriber usually gets a
 * whole /64 and privacy extensions rotate the low 64 bits, so keying by /128 would hand one client
 * 2^64 rate-limit budgets, per-IP caps and fresh "unique" visitors, and hide a shared IP. The prefix
 * is `IPV6_SUBNET_PREFIX` (default 64); IPv4 addresses (and IPv4-mapped IPv6) are keyed whole.
 */

/** The default IPv6 prefix addresses are keyed by. */
export const DEFAULT_IPV6_SUBNET_PREFIX = 64;
let ipv6Prefix = DEFAULT_IPV6_SUBNET_PREFIX;

/**
 * Sets the process-wide IPv6 prefix (`startServer` calls it with `IPV6_SUBNET_PREFIX`). Process-wide
 * because the ledger writers hash addresses without a config in hand; every instance of one
 * deployment must use the same value anyway, or their hashes would not compare.
 */
export function setIpv6SubnetPrefix(prefix: number): void {
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 128) {
    throw new RangeError(`IPv6 subnet prefix must be an integer in 1–128, got ${prefix}`);
  }
  ipv6Prefix = prefix;
}

/** The UTC calendar day of `at`, as `YYYY-MM-DD` (visit rows and day keys are per UTC day). */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

let lastDayKey: { secret: string; day: string; key: Buffer } | undefined;

/** The secret for one UTC day: HMAC(IP_HASH_SECRET, "visitor-day:" + day). */
export function dayKey(secret: string, day: string): Buffer {
  // One HMAC per request saved on the hot path: the key only changes at midnight UTC.
  if (lastDayKey && lastDayKey.secret === secret && lastDayKey.day === day) return lastDayKey.key;
  const key = hmacSha256(secret, `visitor-day:${day}`);
  lastDayKey = { secret, day, key };
  return key;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped), or undefined if it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  const zone = address.indexOf("%");
  const ip = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(ip)) return undefined;
  let text = ip;
  const tail: number[] = [];
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4, ::1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const octets = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    tail.push(((octets[0]! << 8) | octets[1]!) >>> 0, ((octets[2]! << 8) | octets[3]!) >>> 0);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (part: string) =>
    part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const groups =
    rest === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  if (
    groups.length !== 8 ||
    groups.some((group) => !Number.isInteger(group) || group < 0 || group > 0xffff)
  ) {
    return undefined;
  }
  if (tail.length === 2) groups.splice(6, 2, tail[0]!, tail[1]!);
  return groups;
}

/**
 * The form an address is keyed by. IPv4 as is (`::ffff:127.0.0.1`, `::ffff:7f00:1` and `127.0.0.1`
 * are the same client); IPv6 masked to `prefix` bits and written out in full, lower-case, with the
 * prefix: `2001:db8::1` and `2001:0DB8:0:0::2` both become `2001:0db8:0000:0000:0000:0000:0000:0000/64`.
 * Anything unparseable is trimmed and lower-cased, as before.
 */
export function normalizeIp(ip: string, prefix: number = ipv6Prefix): string {
  const trimmed = ip.trim().toLowerCase();
  if (isIPv4(trimmed)) return trimmed;
  const groups = ipv6Groups(trimmed);
  if (!groups) return trimmed;
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 client it is.
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  const masked = groups.map((group, index) => {
    const bits = Math.max(0, Math.min(16, prefix - index * 16));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${masked.map((group) => group.toString(16).padStart(4, "0")).join(":")}/${prefix}`;
}

/**
 * A visitor id for unique-visitor counts: HMAC(day key, normalized IP + user agent), 32 hex
 * characters. Per IPv6 /64 (the same `normalizeIp`), so a device whose privacy address rotates
 * during the day stays one visitor; two browsers behind one /64 still differ by user agent.
 */
export function visitorHash(secret: string, day: string, ip: string, userAgent: string): string {
  return hmacSha256(dayKey(secret, day), `${normalizeIp(ip)}\n${userAgent}`)
    .subarray(0, 16)
    .toString("hex");
}

/** The stable keyed hash of an address (members.signup_ip_hash, orders.buyer_ip_hash, rate limits). */
export function ipHash(secret: string, ip: string, prefix: number = ipv6Prefix): string {
  return hmacSha256(secret, `ip:${normalizeIp(ip, prefix)}`).toString("hex");
}
