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

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());

/** Revokes a key (idempotent). Undefined when no key has that id. */
export async function revokeApiKey(
  db: DbOrTx,
  actor: Actor,
  id: string,
): Promise<{ id: string; revokedAt: string; alreadyRevoked: boolean } | undefined> {
  const revoked = await db
    .updateTable("api_keys")
    .set({ revoked_at: new Date() })
    .where("id", "=", id)
    .where("revoked_at", "is", null)
    .returning(["id", "revoked_at"])
    .executeTakeFirst();
  if (revoked) {
    await audit(db, actor, "api_key.revoked", { type: "api_key", id }, null, null);
    return { id, revokedAt: iso(revoked.revoked_at)!, alreadyRevoked: false };
  }
  const existing = await db
    .selectFrom("api_keys")
    .select("revoked_at")
    .where("id", "=", id)
    .executeTakeFirst();
  return existing ? { id, revokedAt: iso(existing.revoked_at)!, alreadyRevoked: true } : undefined;
}

/** How often a key's `last_used_at` is written at most (per key, per process; the SQL bounds it across processes). */
export const LAST_USED_RESOLUTION_MS = 60_000;
const lastNoted = new Map<string, number>();

/**
 * Records that a key was used: one UPDATE per key per minute at most, not a write per request. The
 * in-process map skips the statement within the minute; the WHERE clause keeps several instances
 * from rewriting it more often than that. Failures are swallowed (usage is informational).
 */
export async function noteKeyUsed(db: DbOrTx, keyId: string, now = Date.now()): Promise<boolean> {
  const last = lastNoted.get(keyId);
  if (last !== undefined && now - last < LAST_USED_RESOLUTION_MS) return false;
  if (lastNoted.size >= 10_000) lastNoted.clear();
  lastNoted.set(keyId, now);
  try {
    await db
      .updateTable("api_keys")
      .set({ last_used_at: new Date(now) })
      .where("id", "=", keyId)
      .where((eb) =>
        eb.or([
          eb("last_used_at", "is", null),
          eb("last_used_at", "<", new Date(now - LAST_USED_RESOLUTION_MS)),
        ]),
      )
      .execute();
    return true;
  } catch {
    lastNoted.delete(keyId);
    return false;
  }
}
