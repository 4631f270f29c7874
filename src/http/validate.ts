import { z } from "zod";
import { AppError } from "../errors.js";

/** Parses request input with a zod schema; failures become one 400 problem listing every field. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, where = "body"): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new AppError("validation_failed", `the request ${where} is invalid`, {
    details: {
      errors: result.error.issues.map((issue) => ({
        path: [where, ...issue.path.map(String)].join("."),
        message: issue.message,
      })),
    },
  });
}

/** Non-negative integer amount in minor units or wei, as a decimal string on the wire. */
export const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,30})$/, 'must be a non-negative integer as a decimal string, e.g. "12500"')
  .transform((value) => BigInt(value));

export const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, "may contain letters, digits and _ . : @ -");

export const bps = z.number().int().min(0).max(5000);

export const wallet = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address")
  .transform((value) => value.toLowerCase());

export const currency = z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as UAH");

/** A row id (bigserial) on the wire: a positive decimal string, e.g. a reward id or a `nextCursor`. */
export const rowId = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be an id such as "42"');
