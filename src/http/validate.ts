import { z } from "zod";
import {
  AMOUNT_MAX,
  COMMISSION_BPS_MAX,
  CURRENCY_PATTERN,
  ID_MAX,
  INSTANT_MAX,
  INSTANT_MIN,
  NUL,
  NUMERIC_78_MAX,
  ROW_ID_MAX,
} from "../db/limits.js";
import { AppError } from "../errors.js";

/**
 * The shared request validators. Every limit comes from `src/db/limits.ts` (the schema's own), so
 * whatever passes here the database accepts: a bad input is a 400 naming the field, never a 500.
 */

const NO_NUL = "must not contain the NUL character (U+0000)";
const MAX_NUL_REPORTS = 20;

/**
 * Paths of every string (or object key) in `input` that holds U+0000: PostgreSQL `text` and `jsonb`
 * cannot store it. Iterative, with parent links, so a deeply nested body costs memory linear in its size.
 */
function nulPaths(input: unknown): string[][] {
  interface Node {
    value: unknown;
    key: string | undefined;
    parent: Node | undefined;
  }
  const pathOf = (node: Node, last?: string) => {
    const path: string[] = last === undefined ? [] : [last];
    for (let at: Node | undefined = node; at?.key !== undefined; at = at.parent) path.unshift(at.key);
    return path;
  };
  const found: string[][] = [];
  const stack: Node[] = [{ value: input, key: undefined, parent: undefined }];
  while (stack.length > 0 && found.length < MAX_NUL_REPORTS) {
    const node = stack.pop()!;
    const { value } = node;
    if (typeof value === "string") {
      if (value.includes(NUL)) found.push(pathOf(node));
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], key: String(i), parent: node });
    } else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        if (key.includes(NUL)) found.push(pathOf(node, key));
        else stack.push({ value: item, key, parent: node });
      }
    }
  }
  return found;
}

/**
 * Parses request input with a zod schema; failures become one 400 problem listing every field. Any
 * string holding U+0000, wherever it sits in the input, is one of those failures.
 */
export function parse<T extends z.ZodType>(schema: T, input: unknown, where = "body"): z.infer<T> {
  const nul = nulPaths(input);
  const result = schema.safeParse(input);
  if (result.success && nul.length === 0) return result.data;
  const errors = (result.success ? [] : result.error.issues).map((issue) => ({
    path: [where, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
  for (const path of nul) {
    const joined = [where, ...path].join(".");
    if (!errors.some((error) => error.path === joined)) errors.push({ path: joined, message: NO_NUL });
  }
  throw new AppError("validation_failed", `the request ${where} is invalid`, { details: { errors } });
}

/** `true` unless the string holds U+0000; the refinement every string validator carries. */
export const hasNoNul = (value: string) => !value.includes(NUL);

/**
 * Free text of at most `max` characters (the column's CHECK, or the API's own limit where the column
 * has none), without U+0000. `trim` trims before the length checks; `min` is the minimum length.
 */
export function text(max: number, options: { min?: number; trim?: boolean } = {}) {
  let schema = z.string();
  if (options.trim) schema = schema.trim();
  if (options.min !== undefined) schema = schema.min(options.min);
  return schema.max(max).refine(hasNoNul, NO_NUL);
}

/** A non-negative decimal integer string of at most `max`, as a bigint. */
function decimal(max: bigint, example: string) {
  const digits = max.toString().length;
  const pattern = new RegExp(`^(0|[1-9][0-9]{0,${digits - 1}})$`);
  return z
    .string()
    .regex(pattern, `must be a non-negative integer as a decimal string, e.g. "${example}"`)
    .refine((value) => !pattern.test(value) || BigInt(value) <= max, `must be at most ${max}`)
    .transform((value) => BigInt(value));
}

/**
 * Non-negative integer amount in fiat minor units, as a decimal string on the wire. Every such
 * amount lands in a `bigint` column, so it is at most int8's maximum (see `AMOUNT_MAX`).
 */
export const amount = decimal(AMOUNT_MAX, "12500");

/** A wei amount (`numeric(78, 0)` columns). No request field carries one today; see `NUMERIC_78_MAX`. */
export const weiAmount = decimal(NUMERIC_78_MAX, "10000000000000000");

export const id = z
  .string()
  .min(1)
  .max(ID_MAX)
  .regex(/^[A-Za-z0-9_.:@-]+$/, "may contain letters, digits and _ . : @ -");

export const bps = z.number().int().min(0).max(COMMISSION_BPS_MAX);

export const wallet = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address")
  .transform((value) => value.toLowerCase());

export const currency = z.string().regex(CURRENCY_PATTERN, "must be an ISO 4217 code such as UAH");

const ROW_ID = /^[1-9][0-9]{0,18}$/;

/** A row id (bigserial) on the wire: a positive decimal string, e.g. a reward id or a `nextCursor`. */
export const rowId = z
  .string()
  .regex(ROW_ID, 'must be an id such as "42"')
  .refine((value) => !ROW_ID.test(value) || BigInt(value) <= ROW_ID_MAX, `must be at most ${ROW_ID_MAX}`);

const inRange = (date: Date) => date >= INSTANT_MIN && date <= INSTANT_MAX;
const RANGE = `must be between ${INSTANT_MIN.toISOString()} and ${INSTANT_MAX.toISOString()}`;

/** An ISO 8601 timestamp with an offset (`Z` or `±hh:mm`), within `INSTANT_MIN`–`INSTANT_MAX`. */
export const timestamp = z.iso
  .datetime({ offset: true })
  .transform((value) => new Date(value))
  .refine(inRange, RANGE);

/** A date (the start of that UTC day) or a full ISO timestamp, within `INSTANT_MIN`–`INSTANT_MAX`. */
export const instant = z
  .union([
    z.iso.date().transform((value) => new Date(`${value}T00:00:00Z`)),
    z.iso.datetime({ offset: true }).transform((value) => new Date(value)),
  ])
  .refine(inRange, RANGE);
