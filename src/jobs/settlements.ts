import { sql } from "kysely";
import type { Db } from "../db/connect.js";

/**
 * Marks settlements whose hold has ended as `due`, auditing each change in the same statement.
 * Safe to run on any number of instances at once: the UPDATE's WHERE is the state check. The rows are
 * found through settlements_vendor_status_idx (vendor, status, scheduled_for), one range per vendor:
 * by status and date alone no index applies, and each run read every settlement ever written
 * (test/integration/plan-audit.test.ts failed so).
 */
export async function markSettlementsDue(db: Db, now = new Date()): Promise<number> {
  const result = await sql<{ n: string }>`
    WITH moved AS (
      UPDATE settlements SET status = 'due', updated_at = now()
      WHERE vendor_id = ANY(ARRAY(SELECT v.vendor_id FROM vendors v))
        AND status = 'pending' AND scheduled_for <= ${now}
      RETURNING id, order_reference, vendor_id
    ), audited AS (
      INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after)
      SELECT 'job:settlements', 'settlement.due', 'settlement', id::text,
             '{"status":"pending"}'::jsonb, jsonb_build_object('status', 'due')
      FROM moved
      RETURNING 1
    )
    SELECT count(*)::text AS n FROM audited`.execute(db);
  return Number(result.rows[0]?.n ?? 0);
}
