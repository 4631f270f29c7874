import { constantTimeEqual, hmacSha256 } from "./crypto.js";

export const REF_COOKIE = "tw_ref";
export const REF_COOKIE_VISIBLE = "tw_ref_visible";

/** No signed referral cookie is honoured longer than this, whatever its browser expiry says. */
const MAX_COOKIE_AGE_DAYS = 365;

/** Parses a Cookie header into name → value (first occurrence wins). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  if (!header) return cookies;
  for (const part of header.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    const name = part.slice(0, index).trim();
    if (!name || name in cookies) continue;
    try {
      cookies[name] = decodeURIComponent(part.slice(index + 1).trim());
    } catch {
      cookies[name] = part.slice(index + 1).trim();
    }
  }
  return cookies;
}

function mac(secret: string, value: string, issuedAt: string): string {
  return hmacSha256(secret, `${REF_COOKIE}=${value}.${issuedAt}`).toString("base64url");
}

/**
 * `CODE.<issued-at, base-36 seconds>.<hmac>`: the signed first-touch cookie value. The issue time is
 * signed too, so a copied cookie cannot outlive `REF_COOKIE_DAYS` by having its browser expiry edited.
 */
export function signCookieValue(secret: string, value: string, issuedAt: Date = new Date()): string {
  const issued = Math.floor(issuedAt.getTime() / 1000).toString(36);
  return `${value}.${issued}.${mac(secret, value, issued)}`;
}

/**
 * The code inside a signed cookie, or undefined when it was forged, tampered with, or issued more than
 * `maxAgeDays` ago (default 365) or in the future. Codes never contain ".", so the split is exact.
 */
export function verifyCookieValue(
  secret: string,
  signed: string | undefined,
  options: { maxAgeDays?: number; now?: Date } = {},
): string | undefined {
  if (!signed || signed.length > 256) return undefined;
  const parts = signed.split(".");
  if (parts.length !== 3) return undefined;
  const [value, issued, signature] = parts as [string, string, string];
  if (!value || !/^[0-9a-z]{1,12}$/.test(issued)) return undefined;
  if (!constantTimeEqual(mac(secret, value, issued), signature)) return undefined;
  const issuedMs = Number.parseInt(issued, 36) * 1000;
  const now = (options.now ?? new Date()).getTime();
  const maxAgeMs = (options.maxAgeDays ?? MAX_COOKIE_AGE_DAYS) * 86_400_000;
  if (issuedMs > now + 300_000 || now - issuedMs > maxAgeMs) return undefined;
  return value;
}
