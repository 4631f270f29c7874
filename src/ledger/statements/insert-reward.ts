import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { type AuditRow, auditRowsJson } from "../audit.js";
import type { JournalRow } from "../journal.js";
import { columnList } from "./columns.js";
import { insertJournal } from "./insert-rail-a.js";

const REWARD_COLUMNS = [
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

const REWARD_COLUMNS_WITH_ID = ["id", ...REWARD_COLUMNS];

/**
 * Reward rows in order-reference order (the lock order's level for them), one per reference: a
 * reference taken already is not inserted. Answers what it inserted. `withIds`: the rows carry their
 * `id` (drawn from the table's sequence beforehand); otherwise the sequence gives it here. Shared with
 * insert-paid-rows.ts.
 */
export function insertRewards(rows: unknown[], withIds = false): RawBuilder<unknown> {
  const columns = withIds ? REWARD_COLUMNS_WITH_ID : REWARD_COLUMNS;
  return sql`INSERT INTO referral_rewards (${columnList(columns)})
      SELECT ${columnList(columns, "x")}
        FROM json_populate_recordset(NULL::referral_rewards, ${JSON.stringify(rows)}::json) x
       ORDER BY x.order_reference COLLATE "C"
      ON CONFLICT ON CONSTRAINT referral_rewards_order_reference_unique DO NOTHING
      RETURNING id, order_reference, status, amount_wei`;
}

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
    WITH r AS (${insertRewards([input.reward])}),
    journal AS (${insertJournal(input.journal)} WHERE EXISTS (SELECT 1 FROM r)),
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
