import { randomBytes } from "node:crypto";
import type { DbOrTx } from "../db/connect.js";
import type { ApiKeyRole } from "../db/schema.js";
import { AppError } from "../errors.js";
import { constantTimeEqual, sha256Hex } from "../lib/crypto.js";
import { type Actor, audit } from "./audit.js";

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

export interface ApiKeyPrincipal {
  kind: "api_key";
  keyId: string;
  role: ApiKeyRole;
  vendorId: string | null;
}

/**
 * Creates an API key `tw_<id>_<secret>`. Only sha256(secret) is stored; the full key is returned once.
 */
export async function createApiKey(
  db: DbOrTx,
  actor: Actor,
  input: { role: ApiKeyRole; vendorId?: string | null; label?: string | null },
): Promise<{ id: string; key: string; role: ApiKeyRole; vendorId: string | null }> {
  if (input.role === "vendor" && !input.vendorId)
    throw new AppError("validation_failed", "a vendor key needs --vendor ID");
  if (input.role !== "vendor" && input.vendorId)
    throw new AppError("validation_failed", "only vendor keys are scoped to a vendor");
  const bytes = randomBytes(12);
  const id = Array.from(bytes, (byte) => ID_ALPHABET[byte % 36]).join("");
  const secret = randomBytes(32).toString("base64url");
  await db
    .insertInto("api_keys")
    .values({
      id,
      secret_hash: sha256Hex(secret),
      role: input.role,
      vendor_id: input.vendorId ?? null,
      label: input.label ?? null,
    })
    .execute();
  await audit(db, actor, "api_key.created", { type: "api_key", id }, null, {
    role: input.role,
    vendorId: input.vendorId ?? null,
  });
  return { id, key: `tw_${id}_${secret}`, role: input.role, vendorId: input.vendorId ?? null };
}

/** Resolves a presented key to its principal, or undefined. The secret is compared in constant time. */
export async function verifyApiKey(db: DbOrTx, presented: string): Promise<ApiKeyPrincipal | undefined> {
  const match = /^tw_([a-z0-9]{12})_([A-Za-z0-9_-]{20,100})$/.exec(presented);
  const row = match
    ? await db
        .selectFrom("api_keys")
        .selectAll()
        .where("id", "=", match[1]!)
        .where("revoked_at", "is", null)
        .executeTakeFirst()
    : undefined;
  // Hash even when the id is unknown so both paths cost the same.
  const candidate = sha256Hex(match?.[2] ?? presented);
  const stored = row?.secret_hash ?? "0".repeat(64);
  if (!constantTimeEqual(candidate, stored) || !row) return undefined;
  return { kind: "api_key", keyId: row.id, role: row.role, vendorId: row.vendor_id };
}
