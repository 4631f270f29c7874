import type { DbOrTx } from "../../db/connect.js";

/** The latest `limit` audit entries, newest first. */
export async function listAuditLog(db: DbOrTx, limit: number) {
  return db.selectFrom("audit_log").selectAll().orderBy("id", "desc").limit(limit).execute();
}
