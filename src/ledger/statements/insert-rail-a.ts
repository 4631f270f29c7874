import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { type AuditRow, auditRowsJson } from "../audit.js";
import type { JournalRow } from "../journal.js";
import { columnList } from "./columns.js";

const SETTLEMENT_COLUMNS = [
  "order_reference",
  "vendor_id",
  "currency",
  "merchandise",
  "discount",
  "shipping",
  "gross",
  "platform_fee",
  "referral_commission",
  "net",
  "platform_fee_bps",
  "breakdown",
  "status",
  "scheduled_for",
];
const ASSIST_COLUMNS = [
  "order_reference",
  "vendor_id",
  "referrer_member_id",
  "referral_code",
  "referral_commission",
];
const JOURNAL_COLUMNS = ["txn_id", "event", "order_reference", "account", "asset", "amount"];

/**
 * The inserts a payment's statements are made of, as CTE bodies over JSON rows (one definition each,
 * shared by this statement, insert-reward.ts and the grouped insert-paid-rows.ts). Settlements go in
 * (order, vendor) order, the lock order's level for them; each answers the ids it inserted.
 */
export function insertSettlements(rows: unknown[]): RawBuilder<unknown> {
  return sql`INSERT INTO settlements (${columnList(SETTLEMENT_COLUMNS)})
      SELECT ${columnList(SETTLEMENT_COLUMNS, "x")}
        FROM json_populate_recordset(NULL::settlements, ${JSON.stringify(rows)}::json) x
       ORDER BY x.order_reference COLLATE "C", x.vendor_id COLLATE "C"
      ON CONFLICT ON CONSTRAINT settlements_order_vendor_unique DO NOTHING
      RETURNING id, order_reference, vendor_id`;
}

export function insertAssists(rows: unknown[]): RawBuilder<unknown> {
  return sql`INSERT INTO erp_sales_assists (${columnList(ASSIST_COLUMNS)})
      SELECT ${columnList(ASSIST_COLUMNS, "x")}
        FROM json_populate_recordset(NULL::erp_sales_assists, ${JSON.stringify(rows)}::json) x
      ON CONFLICT ON CONSTRAINT erp_sales_assists_order_vendor_unique DO NOTHING`;
}

/** Journal rows (a caller may gate them with a WHERE after the fragment: its rows are `x`). */
export function insertJournal(rows: JournalRow[]): RawBuilder<unknown> {
  return sql`INSERT INTO journal_entries (${columnList(JOURNAL_COLUMNS)})
      SELECT ${columnList(JOURNAL_COLUMNS, "x")}
        FROM json_populate_recordset(NULL::journal_entries, ${JSON.stringify(rows)}::json) x`;
}

/**
 * One statement for rail A of a paid order: the vendors' settlements, the ERP sales assists, the
 * order's journal transaction and the audit entries. Audit rows with subject type `settlement` carry
 * the vendor id as subject id and get the inserted settlement's id instead (none if it existed).
 * Each settlement row names its status (`pending`, or `held` while the payment differs from the order
 * total). Returns how many settlements were inserted.
 */
export async function insertRailA(
  trx: DbOrTx,
  input: {
    settlements: Array<Record<string, unknown>>;
    assists: Array<Record<string, unknown>>;
    journal: JournalRow[];
    audit: AuditRow[];
  },
): Promise<number> {
  const result = await sql<{ n: number }>`${prepared("insert-rail-a")}
    WITH s AS (${insertSettlements(input.settlements)}),
    assists AS (${insertAssists(input.assists)}),
    journal AS (${insertJournal(input.journal)}),
    audit AS (
      INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after, request_id)
      SELECT a.actor, a.action, a.subject_type,
             CASE WHEN a.subject_type = 'settlement' THEN s.id::text ELSE a.subject_id END,
             a.before, a.after, a.request_id
        FROM json_populate_recordset(NULL::audit_log, ${auditRowsJson(input.audit)}::json) a
        LEFT JOIN s ON a.subject_type = 'settlement' AND s.vendor_id = a.subject_id
       WHERE a.subject_type <> 'settlement' OR s.id IS NOT NULL
    )
    SELECT count(*)::int AS n FROM s`.execute(trx);
  return Number(result.rows[0]?.n ?? 0);
}
