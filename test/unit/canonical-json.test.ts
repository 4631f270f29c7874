import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/lib/crypto.js";
import { mulberry32 } from "../../src/lib/prng.js";

/** The first definition (every stored hash was made with it): the rewrite must print the same. */
function reference(value: unknown): string {
  return JSON.stringify(value, (_key, item) => {
    if (typeof item === "bigint") return item.toString();
    if (item && typeof item === "object" && !Array.isArray(item)) {
      return Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return item;
  });
}

const KEYS = [
  "a",
  "b",
  "Z",
  "é",
  "10",
  "9",
  "0",
  "01",
  "-1",
  "4294967294",
  "4294967295",
  "1.5",
  "",
  "ä",
  "\u{1F600}",
  "_",
];
const STRINGS = [
  "",
  "x",
  'quote " and \\ backslash',
  "line\nbreak",
  "\u0000\u001f",
  "\u2028",
  "\u{1F600}",
  "\ud800",
];

function value(next: () => number, depth: number): unknown {
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const kind = Math.floor(next() * (depth > 3 ? 9 : 12));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return pick([0, -0, 1, -1.5, 1e21, 1e-7, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]);
    case 3:
      return next() < 0.5;
    case 4:
      return pick([0n, 12345678901234567890123n, -5n]);
    case 5:
      return pick(STRINGS);
    case 6:
      return new Date(Math.floor(next() * 2e12));
    case 7:
      return () => 1;
    case 8:
      return pick([Symbol("s"), new Map([["a", 1]]), new Set([1])]);
    case 9:
    case 10: {
      const object: Record<string, unknown> = {};
      const n = Math.floor(next() * 6);
      for (let i = 0; i < n; i++) object[pick(KEYS)] = value(next, depth + 1);
      return object;
    }
    default:
      return Array.from({ length: Math.floor(next() * 5) }, () => value(next, depth + 1));
  }
}

describe("canonicalJson", () => {
  it("prints what the first definition printed, over 5,000 random values", () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const v = value(mulberry32(seed), 0);
      expect({ seed, json: canonicalJson(v) }).toEqual({ seed, json: reference(v) });
    }
  });

  it("sorts keys (integer-like first, numerically) and turns bigints into strings", () => {
    expect(canonicalJson({ b: 1, a: [2n, { d: 1, c: undefined }], 10: "x", 9: "y" })).toBe(
      '{"9":"y","10":"x","a":["2",{"d":1}],"b":1}',
    );
    expect(canonicalJson({ at: new Date("2026-12-03T00:00:00.000Z") })).toBe(
      '{"at":"2026-12-03T00:00:00.000Z"}',
    );
  });
});
