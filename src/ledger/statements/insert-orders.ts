import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import type { AuditRow } from "../audit.js";
import { columnList } from "./columns.js";
import {
  BUYER_FIRST_TOUCH,
  type InsertOrderInput,
  ORDER_COLUMNS,
  orderLinesAndAudit,
} from "./insert-order.js";

/**
 * One statement for a batch of new orders without coupons (the grouped `order.paid`): the buyers
 * (created, or given their first-touch attribution; in member-id order, the lock order's second
 * level), the orders, their lines and audit entries — all of them, or nothing but the buyers when any
 * order already exists (then the caller rolls back and records the events one by one). The buyers
 * must be distinct. Returns how many orders were inserted.
 */
export async function insertOrders(trx: DbOrTx, orders: InsertOrderInput[]): Promise<number> {
  const buyers = orders
    .flatMap((o) => (o.buyer ? [o.buyer] : []))
    .map((b) => ({
      member_id: b.memberId,
      referred_by_member_id: b.durable?.referrerMemberId ?? null,
      referred_by_code: b.durable?.code ?? null,
      attribution_source: b.durable?.source ?? null,
      attributed_at: b.durable?.attributedAt ?? null,
    }));
  const audit: AuditRow[] = orders.flatMap((o) => o.audit);
  const result = await sql<{ n: number }>`${prepared("insert-orders")}
    WITH buyer AS (
      INSERT INTO members (member_id, referred_by_member_id, referred_by_code, attribution_source, attributed_at)
      SELECT b.member_id, b.referred_by_member_id, b.referred_by_code, b.attribution_source, b.attributed_at
        FROM json_to_recordset(${JSON.stringify(buyers)}::json)
          AS b(member_id text, referred_by_member_id text, referred_by_code text, attribution_source text,
               attributed_at timestamptz)
       ORDER BY b.member_id COLLATE "C"
      ${BUYER_FIRST_TOUCH}
    ),
    ins AS (
      INSERT INTO orders (${columnList(ORDER_COLUMNS)})
      SELECT ${columnList(ORDER_COLUMNS, "o")}
        FROM json_populate_recordset(NULL::orders, ${JSON.stringify(orders.map((o) => o.order))}::json) o
      ON CONFLICT (order_reference) DO NOTHING
      RETURNING order_reference
    ),
    complete AS (SELECT count(*) = ${orders.length}::int AS ok FROM ins),
    lines AS (${orderLinesAndAudit.lines(orders.flatMap((o) => o.lines))} WHERE (SELECT ok FROM complete)),
    audit AS (${orderLinesAndAudit.audit(audit)} WHERE (SELECT ok FROM complete))
    SELECT count(*)::int AS n FROM ins`.execute(trx);
  return Number(result.rows[0]?.n ?? 0);
}
