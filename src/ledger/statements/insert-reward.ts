import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { type AuditRow, auditRowsJson } from "../audit.js";
import type { JournalRow } from "../journal.js";
import { columnList } from "./columns.js";
import { JOURNAL_COLUMNS } from "./insert-rail-a.js";

export const REWARD_COLUMNS = [
  "order_reference",
  "order_ref_hash",
  "source",
  "referrer_member_id",
  "buyer_member_id",
  "wallet_address",
  "currency",
  "fiat_basis",
  "wei_per_minor_unit",
  "amount_wei",
  "clawback_netted_wei",
  "payment_rail",
  "status",
  "fraud_signals",
  "approved_by",
  "approved_at",
  "hold_reason",
];

/**
 * One statement: the reward row, and only if it was inserted (one per reference), its journal
 * transaction, its audit entry (subject id = the new reward's id) and the clawback netting row.
 */
export async function insertReward(
  trx: DbOrTx,
  input: {
    reward: Record<string, unknown>;
    netting: Record<string, string | null> | null;
    journal: JournalRow[];
    audit: AuditRow;
  },
): Promise<{ id: bigint; status: string; amount_wei: string } | undefined> {
  const result = await sql<{
    id: bigint | string;
    status: string;
    amount_wei: string;
  }>`${prepared("insert-reward")}
    WITH r AS (
      INSERT INTO referral_rewards (${columnList(REWARD_COLUMNS)})
      SELECT ${columnList(REWARD_COLUMNS, "x")}
        FROM json_populate_record(NULL::referral_rewards, ${JSON.stringify(input.reward)}::json) x
      ON CONFLICT ON CONSTRAINT referral_rewards_order_reference_unique DO NOTHING
      RETURNING id, status, amount_wei
    ),
    journal AS (
      INSERT INTO journal_entries (${columnList(JOURNAL_COLUMNS)})
      SELECT ${columnList(JOURNAL_COLUMNS, "x")}
        FROM json_populate_recordset(NULL::journal_entries, ${JSON.stringify(input.journal)}::json) x
       WHERE EXISTS (SELECT 1 FROM r)
    ),
    netting AS (
      INSERT INTO clawbacks (referrer_member_id, kind, amount_wei, debt_after, reward_id, order_reference, source_id)
      SELECT x.referrer_member_id, x.kind, x.amount_wei, x.debt_after, r.id, x.order_reference, x.source_id
        FROM json_populate_recordset(NULL::clawbacks, ${JSON.stringify(input.netting ? [input.netting] : [])}::json) x
       CROSS JOIN r
    ),
    audit AS (
      INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after, request_id)
      SELECT a.actor, a.action, a.subject_type, r.id::text, a.before, a.after, a.request_id
        FROM json_populate_recordset(NULL::audit_log, ${auditRowsJson([input.audit])}::json) a
       CROSS JOIN r
    )
    SELECT id, status, amount_wei::text AS amount_wei FROM r`.execute(trx);
  const row = result.rows[0];
  return row ? { id: BigInt(row.id), status: row.status, amount_wei: row.amount_wei } : undefined;
}
