/**
 * Referral codes: generation and normalization. A code is what a person reads, types and shares, so
 * normalization must never let two visibly different strings become one code by silently dropping
 * characters, and never accept a string that merely looks like a valid code.
 */

/** The 32 symbols of random codes: digits and capitals without the look-alikes 0/O and 1/I. */
export const CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/** Length of a generated random code. */
export const RANDOM_CODE_LENGTH = 8;

/** Every normalized code matches this: 3–32 characters, starting with a letter or digit. */
export const CODE_PATTERN = /^[A-Z0-9][A-Z0-9_-]{2,31}$/;

/**
 * A random code of `length` symbols from `CODE_ALPHABET`, drawing one byte per symbol from
 * `randomBytes` (pass `crypto.randomBytes`). `byte & 31` is unbiased because 32 divides 256.
 * @throws RangeError when `length` is not an integer in 3–32 (codes must match `CODE_PATTERN`) or the
 * source returns too few bytes.
 */
export function generateCode(randomBytes: (n: number) => Uint8Array, length = RANDOM_CODE_LENGTH): string {
  if (!Number.isInteger(length) || length < 3 || length > 32) {
    throw new RangeError(`generateCode: length must be an integer in 3–32, got ${length}`);
  }
  const bytes = randomBytes(length);
  if (bytes.length < length) {
    throw new RangeError(`generateCode: asked for ${length} random bytes, got ${bytes.length}`);
  }
  let code = "";
  for (let i = 0; i < length; i += 1) {
    code += CODE_ALPHABET[bytes[i]! & 31];
  }
  return code;
}

/** Why `normalizeCode` refused its input. */
export type CodeRejection = "empty" | "invalid_characters" | "invalid_format";

/** The outcome of `normalizeCode`. */
export type NormalizedCode = { ok: true; code: string } | { ok: false; reason: CodeRejection };

/** Longest raw input worth normalizing; anything longer cannot be a code and is refused before NFKC. */
const MAX_RAW_LENGTH = 128;

/**
 * Invisible format characters (Unicode category Cf): zero-width space/joiners, word joiner, BOM, soft
 * hyphen, bidi embeddings/overrides/isolates (U+202A–U+202E, U+2066–U+2069) and the like.
 */
const FORMAT_CHARACTER = /\p{Cf}/u;
const CODE_CHARACTERS = /^[A-Za-z0-9_-]+$/;

/**
 * Normalizes a code as typed or linked: trim, NFKC, upper-case, then it must match `CODE_PATTERN`.
 *
 * Anything suspicious is refused, never stripped: invisible format characters (zero-width, bidi
 * controls, BOM) anywhere in the input — even at the ends, where `trim` would otherwise eat a BOM —
 * and anything still outside ASCII after NFKC: other scripts' look-alikes (Cyrillic "А", Greek "Α"),
 * combining marks, inner spaces. So "ANNA\u200b" is `invalid_characters`, not "ANNA".
 *
 * NFKC does fold compatibility forms onto ASCII, e.g. fullwidth "ＡＮＮＡ" → "ANNA": that is accepted
 * on purpose, because Unicode defines them as the same characters and the result resolves to the
 * very code that it shows.
 *
 * The ASCII check runs before upper-casing (a deliberate tightening of "NFKC, upper-case, check"):
 * `toUpperCase` maps some non-ASCII letters onto ASCII ("ß" → "SS", dotless "ı" → "I"), which would
 * let a look-alike through. For ASCII input the order makes no difference.
 */
export function normalizeCode(input: unknown): NormalizedCode {
  if (typeof input !== "string") return { ok: false, reason: "invalid_format" };
  if (input.length > MAX_RAW_LENGTH) return { ok: false, reason: "invalid_format" };
  if (FORMAT_CHARACTER.test(input)) return { ok: false, reason: "invalid_characters" };
  const trimmed = input.trim();
  if (trimmed === "") return { ok: false, reason: "empty" };
  const folded = trimmed.normalize("NFKC");
  if (!CODE_CHARACTERS.test(folded)) return { ok: false, reason: "invalid_characters" };
  const code = folded.toUpperCase();
  if (!CODE_PATTERN.test(code)) return { ok: false, reason: "invalid_format" };
  return { ok: true, code };
}

/**
 * Whether a requested vanity code is acceptable, i.e. `normalizeCode` accepts it (after normalization
 * it is 3–32 of A–Z, 0–9, "_" and "-", starting with a letter or digit). Store `normalizeCode(x).code`,
 * never the raw input.
 */
export function isValidVanity(code: unknown): boolean {
  return normalizeCode(code).ok;
}
