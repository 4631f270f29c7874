import { constantTimeEqual, hmacSha256 } from "./crypto.js";

/**
 * Member tokens: HS256 JWTs signed by the host with MEMBER_TOKEN_SECRET, `sub` = member id, `exp`
 * required. Verified here without a library: the algorithm is pinned, so `alg: none` and key
 * confusion are refused.
 */
export function signMemberToken(
  secret: string,
  memberId: string,
  ttlSeconds = 3600,
  now = Date.now(),
): string {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const iat = Math.floor(now / 1000);
  const payload = base64url(JSON.stringify({ sub: memberId, iat, exp: iat + ttlSeconds }));
  const signature = hmacSha256(secret, `${header}.${payload}`).toString("base64url");
  return `${header}.${payload}.${signature}`;
}

export function verifyMemberToken(
  secret: string,
  token: string,
  now = Date.now(),
): { memberId: string } | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const [header, payload, signature] = parts as [string, string, string];
  const expected = hmacSha256(secret, `${header}.${payload}`).toString("base64url");
  if (!constantTimeEqual(expected, signature)) return undefined;
  try {
    const head = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as { alg?: unknown };
    if (head.alg !== "HS256") return undefined;
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
      sub?: unknown;
      exp?: unknown;
      nbf?: unknown;
    };
    // A member id as the API accepts it (src/http/validate.ts `id`): never NUL or other bytes the
    // database cannot store.
    if (typeof claims.sub !== "string" || !/^[A-Za-z0-9_.:@-]{1,128}$/.test(claims.sub)) return undefined;
    if (typeof claims.exp !== "number" || claims.exp * 1000 <= now) return undefined;
    if (typeof claims.nbf === "number" && claims.nbf * 1000 > now + 60_000) return undefined;
    return { memberId: claims.sub };
  } catch {
    return undefined;
  }
}

function base64url(text: string): string {
  return Buffer.from(text, "utf8").toString("base64url");
}
