import type { DbOrTx } from "../db/connect.js";
import { canonicalJson } from "../lib/crypto.js";

export interface Actor {
  /** "admin:<keyId>", "integration:<keyId>", "webhook:payments", "job:minter", "member:<id>", "system". */
  id: string;
  requestId?: string;
}

export const SYSTEM: Actor = { id: "system" };

/** Appends one audit entry in the caller's transaction. */
export async function audit(
  db: DbOrTx,
  actor: Actor,
  action: string,
  subject: { type: string; id: string | bigint },
  before: unknown,
  after: unknown,
): Promise<void> {
  await db
    .insertInto("audit_log")
    .values(auditRow(actor, action, subject, before, after))
    .execute();
}

/** One `audit_log` row as a value, for callers that write many rows in one statement. */
export interface AuditRow {
  actor: string;
  action: string;
  subject_type: string;
  subject_id: string;
  before: string | null;
  after: string | null;
  request_id: string | null;
}

/** The row `audit()` would insert, not written yet. */
export function auditRow(
  actor: Actor,
  action: string,
  subject: { type: string; id: string | bigint },
  before: unknown,
  after: unknown,
): AuditRow {
  return {
    actor: actor.id,
    action,
    subject_type: subject.type,
    subject_id: String(subject.id),
    before: before === undefined || before === null ? null : canonicalJson(before),
    after: after === undefined || after === null ? null : canonicalJson(after),
    request_id: actor.requestId ?? null,
  };
}

/** Appends several audit entries in one statement. */
export async function auditMany(db: DbOrTx, rows: AuditRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto("audit_log").values(rows).execute();
}

/**
 * Audit rows as one JSON array for `json_populate_recordset(NULL::audit_log, …)`, with `before` and
 * `after` embedded as JSON values (not as strings holding JSON). With `keys`, each object also carries
 * `"k": keys[i]` (a batch's join key, e.g. the order reference).
 */
export function auditRowsJson(rows: AuditRow[], keys?: string[]): string {
  return `[${rows
    .map(
      (row, i) =>
        `{${keys ? `"k":${JSON.stringify(keys[i])},` : ""}"actor":${JSON.stringify(row.actor)},"action":${JSON.stringify(row.action)},"subject_type":${JSON.stringify(
          row.subject_type,
        )},"subject_id":${JSON.stringify(row.subject_id)},"before":${row.before ?? "null"},"after":${
          row.after ?? "null"
        },"request_id":${JSON.stringify(row.request_id)}}`,
    )
    .join(",")}]`;
}
