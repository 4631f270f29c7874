import type { DbOrTx } from "../../db/connect.js";
import type { ApiKeyRole } from "../../db/schema.js";

/** A key as listed by `twinrail keys list` (never its secret or hash). */
export interface ApiKeyView {
  id: string;
  role: ApiKeyRole;
  vendorId: string | null;
  label: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Every key, newest first; revoked ones only with `includeRevoked`. */
export async function listApiKeys(
  db: DbOrTx,
  options: { includeRevoked?: boolean } = {},
): Promise<ApiKeyView[]> {
  let query = db
    .selectFrom("api_keys")
    .select(["id", "role", "vendor_id", "label", "created_at", "last_used_at", "revoked_at"])
    .orderBy("created_at", "desc")
    .orderBy("id");
  if (!options.includeRevoked) query = query.where("revoked_at", "is", null);
  const rows = await query.execute();
  return rows.map((row) => ({
    id: row.id,
    role: row.role,
    vendorId: row.vendor_id,
    label: row.label,
    createdAt: iso(row.created_at)!,
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  }));
}

const iso = (value: Date | string | null) => (value === null ? null : new Date(value).toISOString());
