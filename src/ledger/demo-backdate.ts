import { sql } from "kysely";
import type { Db } from "../db/connect.js";
import { inTransaction } from "../db/transaction.js";

/**
 * DEMO ONLY (src/demo/history.ts): the seeded history is written through the ledger's own use cases
 * today, and the rows whose creation time the dashboards chart by — the order, its settlements and
 * sales assists, its reward — are then dated back to the day the story puts them on. Nothing else
 * moves: statuses, amounts, the journal, the audit log and the chain stay as the use cases left them,
 * and the day rollups follow by their own UPDATE triggers (contribution(new) − contribution(old)).
 * Never called outside demo mode.
 */
export async function backdateDemoOrders(
  db: Db,
  orders: ReadonlyArray<{ orderReference: string; at: Date }>,
): Promise<void> {
  if (orders.length === 0) return;
  const refs = orders.map((o) => o.orderReference);
  const ats = orders.map((o) => o.at.toISOString());
  // One VALUES list joined by reference, one UPDATE per table (orders first: the lock order).
  const shifted = sql`(SELECT * FROM unnest(${refs}::text[], ${ats}::timestamptz[]) AS m(ref, at))`;
  await inTransaction(
    db,
    async (trx) => {
      await sql`UPDATE orders o SET created_at = m.at FROM ${shifted} m WHERE o.order_reference = m.ref`.execute(
        trx,
      );
      await sql`UPDATE settlements s SET created_at = m.at FROM ${shifted} m WHERE s.order_reference = m.ref`.execute(
        trx,
      );
      await sql`UPDATE erp_sales_assists a SET created_at = m.at FROM ${shifted} m WHERE a.order_reference = m.ref`.execute(
        trx,
      );
      await sql`UPDATE referral_rewards r SET created_at = m.at FROM ${shifted} m WHERE r.order_reference = m.ref`.execute(
        trx,
      );
    },
    { name: "demo-backdate" },
  );
}
