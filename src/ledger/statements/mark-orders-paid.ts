import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import type { PaymentRail } from "../../db/schema.js";
import {
  PAID_ORDER_ANSWER,
  type PaidOrder,
  type PaidOrderRow,
  paidSet,
  toPaidOrder,
} from "./mark-order-paid.js";

/**
 * One statement for a batch of payments (the grouped `order.paid`): `markOrderPaid` for each — the
 * buyers' first-paid-order rows claimed in buyer order, `created → paid` as one conditional update,
 * the `first_order` decision per order — answered with the same columns. Orders that are unknown, not
 * `created` any more or in another currency are missing from the answer (the caller rolls back and
 * records the events one by one). The buyers must be distinct.
 */
export async function markOrdersPaid(
  trx: DbOrTx,
  events: Array<{
    orderReference: string;
    currency: string;
    amountPaid: bigint;
    paymentRail: PaymentRail;
    paidAt: Date;
    termsHash: string;
  }>,
  scope: "first_order" | "window",
): Promise<Map<string, PaidOrder>> {
  const rows = events.map((e) => ({
    order_reference: e.orderReference,
    currency: e.currency,
    amount_paid: e.amountPaid.toString(),
    payment_rail: e.paymentRail,
    paid_at: e.paidAt.toISOString(),
    terms_hash: e.termsHash,
  }));
  // Each order is found by its key (a lateral subquery the planner cannot flatten into a hash join)
  // and updated by the row it found (a TID scan). A row another transaction updated meanwhile is not
  // at that TID any more: it is not paid here, and the caller sends the batch down the one-event path.
  // NOT a named prepared statement (no `prepared()` marker), so it is planned for each group with the
  // table as it is: joining many orders, a generic plan chosen while `orders` was small scanned it
  // (test/integration/hot-plans.test.ts, in CI), and a connection would have kept that plan while the
  // table grew. Planning once per group costs a few hundredths of a millisecond per event.
  const result = await sql<PaidOrderRow>`
    WITH e AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json)
        AS x(order_reference text, currency text, amount_paid numeric, payment_rail text, paid_at timestamptz,
             terms_hash text)
    ),
    target AS (
      SELECT o.tid, o.order_reference, o.buyer_member_id, o.referral_applied
        FROM e CROSS JOIN LATERAL (
          SELECT o.ctid AS tid, o.order_reference, o.buyer_member_id, o.referral_applied FROM orders o
           WHERE o.order_reference = e.order_reference AND o.status = 'created' AND o.currency = e.currency
          OFFSET 0) o
    ),
    first_paid AS (
      INSERT INTO buyer_first_paid_orders (buyer_member_id, order_reference)
      SELECT t.buyer_member_id, t.order_reference FROM target t WHERE t.buyer_member_id IS NOT NULL
       ORDER BY t.buyer_member_id COLLATE "C"
      ON CONFLICT DO NOTHING
      RETURNING order_reference
    ),
    decide AS (
      SELECT t.order_reference,
             (t.referral_applied AND ${scope}::text = 'first_order' AND t.buyer_member_id IS NOT NULL
              AND t.order_reference NOT IN (SELECT f.order_reference FROM first_paid f)) AS lose
        FROM target t
    ),
    paid AS (
      UPDATE orders o SET ${paidSet({
        paymentRail: sql`e.payment_rail`,
        amountPaid: sql`e.amount_paid`,
        paidAt: sql`e.paid_at`,
        termsHash: sql`e.terms_hash`,
      })}
        FROM decide d JOIN e ON e.order_reference = d.order_reference
       WHERE o.ctid = ANY(ARRAY(SELECT t.tid FROM target t)) AND o.order_reference = d.order_reference
         AND o.status = 'created' AND o.currency = e.currency
      RETURNING o.*, d.lose AS referral_lost
    ),
    ${PAID_ORDER_ANSWER}`.execute(trx);
  return new Map(result.rows.map((row) => [row.order_reference, toPaidOrder(row)]));
}
