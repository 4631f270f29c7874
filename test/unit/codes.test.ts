import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CODE_ALPHABET,
  CODE_PATTERN,
  generateCode,
  isValidVanity,
  normalizeCode,
} from "../../src/domain/codes.js";

describe("generateCode", () => {
  it("uses a 32-symbol alphabet without the look-alikes 0, O, 1 and I", () => {
    expect(CODE_ALPHABET).toHaveLength(32);
    expect(new Set(CODE_ALPHABET).size).toBe(32);
    for (const lookAlike of ["0", "O", "1", "I"]) expect(CODE_ALPHABET).not.toContain(lookAlike);
  });

  it("makes 8-symbol codes of alphabet characters only, which normalize to themselves", () => {
    for (let i = 0; i < 1000; i += 1) {
      const code = generateCode(randomBytes);
      expect(code).toHaveLength(8);
      expect(code).toMatch(/^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{8}$/);
      expect(normalizeCode(code)).toEqual({ ok: true, code });
    }
  });

  it("maps byte & 31 onto the alphabet, so every byte value is used and none is skewed", () => {
    const fixed = (bytes: number[]) => () => Uint8Array.from(bytes);
    expect(generateCode(fixed([0, 31, 32, 255, 1, 33, 224, 128]))).toBe("2Z2Z3322");
  });

  it("draws each symbol about equally often (distribution sanity over 160 000 symbols)", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i += 1) {
      for (const symbol of generateCode(randomBytes)) counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    // expected 5 000 each, σ ≈ 70: ±500 is a > 7σ band, so a failure means real bias
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(4_500);
      expect(count).toBeLessThan(5_500);
    }
  });

  it("honours a custom length and refuses lengths that could not be valid codes", () => {
    expect(generateCode(randomBytes, 12)).toHaveLength(12);
    expect(() => generateCode(randomBytes, 2)).toThrow(RangeError);
    expect(() => generateCode(randomBytes, 33)).toThrow(RangeError);
    expect(() => generateCode(() => new Uint8Array(3))).toThrow(RangeError);
  });
});

describe("normalizeCode", () => {
  it.each([
    ["ANNA7F3K", "ANNA7F3K"],
    ["anna7f3k", "ANNA7F3K"],
    ["  Anna-Books_2  ", "ANNA-BOOKS_2"],
    ["\tANNA\n", "ANNA"],
    ["ＡＮＮＡ", "ANNA"], // fullwidth: NFKC compatibility form of ASCII, resolves to the code it shows
    ["ａｎｎａ", "ANNA"],
    ["ABC", "ABC"],
    ["A".repeat(32), "A".repeat(32)],
    ["7ANNA", "7ANNA"],
  ])("accepts %j as %j", (input, code) => {
    expect(normalizeCode(input)).toEqual({ ok: true, code });
  });

  it.each([
    ["zero-width space at the end", "ANNA\u200b", "invalid_characters"],
    ["zero-width space inside", "AN\u200bNA", "invalid_characters"],
    ["zero-width space at the start", "\u200bANNA", "invalid_characters"],
    ["zero-width joiner", "AN\u200dNA", "invalid_characters"],
    ["zero-width non-joiner", "AN\u200cNA", "invalid_characters"],
    ["word joiner", "ANNA\u2060", "invalid_characters"],
    ["byte-order mark at the end (trim would strip it)", "ANNA\ufeff", "invalid_characters"],
    ["byte-order mark at the start", "\ufeffANNA", "invalid_characters"],
    ["soft hyphen", "AN\u00adNA", "invalid_characters"],
    ["right-to-left override", "\u202eANNA", "invalid_characters"],
    ["left-to-right embedding", "ANNA\u202a", "invalid_characters"],
    ["pop directional formatting", "ANNA\u202c", "invalid_characters"],
    ["right-to-left isolate", "\u2067ANNA\u2069", "invalid_characters"],
    ["left-to-right mark", "ANNA\u200e", "invalid_characters"],
    ["Cyrillic А look-alike", "\u0410NNA", "invalid_characters"],
    ["all-Cyrillic look-alike", "\u0410\u041d\u041d\u0410", "invalid_characters"],
    ["Cyrillic lowercase а look-alike", "\u0430nna", "invalid_characters"],
    ["Greek Α look-alike", "\u0391NNA", "invalid_characters"],
    ["Greek Ο look-alike", "B\u039fB", "invalid_characters"],
    ["combining acute accent", "ANNA\u0301", "invalid_characters"],
    ["combining mark that NFKC composes (Á)", "A\u0301NNA", "invalid_characters"],
    ["combining grapheme joiner", "AN\u034fNA", "invalid_characters"],
    ["variation selector", "ANNA\ufe0f", "invalid_characters"],
    ["dotless i that upper-cases to I", "\u0131VAN", "invalid_characters"],
    ["sharp s that upper-cases to SS", "STRA\u00dfE", "invalid_characters"],
    ["Hangul filler (invisible letter)", "ANNA\u3164", "invalid_characters"],
    ["inner space", "AN NA", "invalid_characters"],
    ["punctuation", "ANNA!", "invalid_characters"],
    ["emoji", "ANNA😀", "invalid_characters"],
    ["a dot", "AN.NA", "invalid_characters"],
    ["empty string", "", "empty"],
    ["only whitespace", "   \t ", "empty"],
    ["too short", "AB", "invalid_format"],
    ["too long", "A".repeat(33), "invalid_format"],
    ["leading hyphen", "-ANNA", "invalid_format"],
    ["leading underscore", "_ANNA", "invalid_format"],
    ["absurdly long input", "A".repeat(10_000), "invalid_format"],
  ])("refuses %s", (_, input, reason) => {
    expect(normalizeCode(input)).toEqual({ ok: false, reason });
  });

  it.each([null, undefined, 42, {}, ["ANNA"]])("refuses a non-string %j as invalid_format", (input) => {
    expect(normalizeCode(input)).toEqual({ ok: false, reason: "invalid_format" });
  });

  it("never strips an invisible character: inserting one anywhere into a valid code refuses it", () => {
    const invisible = fc.constantFrom(
      "\u200b",
      "\u200c",
      "\u200d",
      "\u2060",
      "\ufeff",
      "\u202e",
      "\u2066",
      "\u00ad",
    );
    const validCode = fc.stringMatching(/^[A-Z0-9][A-Z0-9_-]{2,20}$/);
    fc.assert(
      fc.property(validCode, invisible, fc.nat(), (code, char, at) => {
        const position = at % (code.length + 1);
        const attacked = code.slice(0, position) + char + code.slice(position);
        expect(normalizeCode(attacked)).toEqual({ ok: false, reason: "invalid_characters" });
      }),
    );
  });

  it("only ever returns ASCII codes matching the pattern, and is idempotent, for arbitrary Unicode input", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (input) => {
        const result = normalizeCode(input);
        if (result.ok) {
          expect(result.code).toMatch(CODE_PATTERN);
          expect(normalizeCode(result.code)).toEqual(result);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("isValidVanity", () => {
  it("accepts what normalizeCode accepts and nothing else", () => {
    expect(isValidVanity("anna-books")).toBe(true);
    expect(isValidVanity("ANNA_2024")).toBe(true);
    expect(isValidVanity("AN")).toBe(false);
    expect(isValidVanity("ANNA\u200b")).toBe(false);
    expect(isValidVanity("\u0410NNA")).toBe(false);
    expect(isValidVanity("-ANNA")).toBe(false);
  });
});
