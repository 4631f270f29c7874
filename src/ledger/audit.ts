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
    .values({
      actor: actor.id,
      action,
      subject_type: subject.type,
      subject_id: String(subject.id),
      before: before === undefined || before === null ? null : canonicalJson(before),
      after: after === undefined || after === null ? null : canonicalJson(after),
      request_id: actor.requestId ?? null,
    })
    .execute();
}
