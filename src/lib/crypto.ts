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

/**
 * JSON with object keys sorted, so that equal values hash equally whatever their key order.
 *
 * The output is what `JSON.stringify(value, replacer)` gives with a replacer that turns bigints into
 * strings and rebuilds every plain object from its entries sorted by key (`Object.fromEntries`), which
 * is how it was first written and how every stored hash was made: integer-like keys therefore come
 * first in numeric order (an object rebuilt from entries lists them so), then the others by UTF-16
 * code unit. It walks the value once instead of rebuilding each object for JSON.stringify to walk
 * again: the audit rows of every event go through it (test/unit/canonical-json.test.ts compares the
 * two over random values).
 */
export function canonicalJson(value: unknown): string {
  return write(value) as string;
}

const INDEX_KEY = /^(?:0|[1-9]\d{0,9})$/;
const MAX_INDEX = 2 ** 32 - 2;

function sortedKeys(object: object): string[] {
  const keys = Object.keys(object);
  const indexes: string[] = [];
  const names: string[] = [];
  for (const key of keys) {
    if (INDEX_KEY.test(key) && Number(key) <= MAX_INDEX) indexes.push(key);
    else names.push(key);
  }
  if (indexes.length === 0) return names.sort();
  return indexes.sort((a, b) => Number(a) - Number(b)).concat(names.sort());
}

/** Strings JSON prints as they are, between quotes (no escape, no surrogate). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const quote = (text: string) => (PLAIN.test(text) ? `"${text}"` : JSON.stringify(text));

function write(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `"${value.toString()}"`;
    case "object": {
      if (value === null) return "null";
      const json = (value as { toJSON?: unknown }).toJSON;
      if (typeof json === "function") return write(json.call(value));
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += `${i ? "," : ""}${write(value[i]) ?? "null"}`;
        return `${out}]`;
      }
      if (value instanceof Number || value instanceof String || value instanceof Boolean) {
        return JSON.stringify(value);
      }
      let out = "{";
      let first = true;
      for (const key of sortedKeys(value)) {
        const item = write((value as Record<string, unknown>)[key]);
        if (item === undefined) continue;
        out += `${first ? "" : ","}${quote(key)}:${item}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      return undefined; // undefined, functions, symbols: left out, as JSON.stringify leaves them
  }
}

export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
