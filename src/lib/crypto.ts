import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function hmacSha256(secret: string | Buffer, data: string | Buffer): Buffer {
  return createHmac("sha256", secret).update(data).digest();
}

/** Constant-time comparison of two strings; differing lengths compare unequal without early exit on content. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  // Hash both sides first so the comparison is always over 32 bytes, whatever the inputs' lengths.
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right) && Buffer.byteLength(a) === Buffer.byteLength(b);
}

/** JSON with object keys sorted, so that equal values hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item) => {
    if (typeof item === "bigint") return item.toString();
    if (item && typeof item === "object" && !Array.isArray(item)) {
      return Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return item;
  });
}

export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
