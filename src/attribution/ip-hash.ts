import { hmacSha256 } from "../lib/crypto.js";

/**
 * Keyed hashes of client addresses. Raw IPs are never stored: visitors get an id that rotates every
 * day (the day key is itself an HMAC of `IP_HASH_SECRET` and the date, so no key is ever stored and
 * yesterday's ids cannot be linked to today's); members and orders get one stable keyed hash so that
 * fraud signals can compare a buyer with a referrer who signed up weeks earlier.
 */

/** The UTC calendar day of `at`, as `YYYY-MM-DD` (visit rows and day keys are per UTC day). */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The secret for one UTC day: HMAC(IP_HASH_SECRET, "visitor-day:" + day). */
export function dayKey(secret: string, day: string): Buffer {
  return hmacSha256(secret, `visitor-day:${day}`);
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are the same client. */
export function normalizeIp(ip: string): string {
  const trimmed = ip.trim().toLowerCase();
  return trimmed.startsWith("::ffff:") && trimmed.includes(".") ? trimmed.slice(7) : trimmed;
}

/** A visitor id for unique-visitor counts: HMAC(day key, IP + user agent), 32 hex characters. */
export function visitorHash(secret: string, day: string, ip: string, userAgent: string): string {
  return hmacSha256(dayKey(secret, day), `${normalizeIp(ip)}\n${userAgent}`)
    .subarray(0, 16)
    .toString("hex");
}

/** The stable keyed hash of an address (members.signup_ip_hash, orders.buyer_ip_hash, rate limits). */
export function ipHash(secret: string, ip: string): string {
  return hmacSha256(secret, `ip:${normalizeIp(ip)}`).toString("hex");
}
