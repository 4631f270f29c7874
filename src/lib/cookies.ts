import { constantTimeEqual, hmacSha256 } from "./crypto.js";

export const REF_COOKIE = "tw_ref";
export const REF_COOKIE_VISIBLE = "tw_ref_visible";

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

/** `CODE.<hmac>`: the signed first-touch cookie value. */
export function signCookieValue(secret: string, value: string): string {
  return `${value}.${hmacSha256(secret, `${REF_COOKIE}=${value}`).toString("base64url")}`;
}

/** The code inside a signed cookie, or undefined when it was forged or tampered with. */
export function verifyCookieValue(secret: string, signed: string | undefined): string | undefined {
  if (!signed) return undefined;
  const index = signed.lastIndexOf(".");
  if (index <= 0) return undefined;
  const value = signed.slice(0, index);
  const expected = signCookieValue(secret, value);
  return constantTimeEqual(expected, signed) ? value : undefined;
}
