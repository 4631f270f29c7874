import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import type { PaymentRail } from "../../db/schema.js";
import type { AuditRow } from "../audit.js";
import { columnList } from "./columns.js";
import {
  BUYER_FIRST_TOUCH,
  type InsertOrderInput,
  LINE_COLUMNS,
  ORDER_COLUMNS,
  orderLinesAndAudit,
} from "./insert-order.js";
import {
  PAID_REFERRAL,
  type PaidOrder,
  type PaidOrderRow,
  paidOrderColumns,
  toPaidOrder,
} from "./mark-order-paid.js";

/** What the payment sets on its new order (the `order.paid` event's values). */
export interface Payment {
  amountPaid: bigint;
  paymentRail: PaymentRail;
  paidAt: Date;
  termsHash: string;
}

/** An order's columns as inserted already paid: the referral ones as the UPDATE of `markOrderPaid` sets them. */
const PAID_VALUES = sql.raw(
  ORDER_COLUMNS.map((name) => PAID_REFERRAL[name] ?? `o."${name}"`)
    .concat([`'paid'`, `e.payment_rail`, `e.amount_paid`, `e.paid_at`, `e.terms_hash`])
    .join(", "),
);
const PAID_COLUMNS = [
  ...ORDER_COLUMNS,
  "status",
  "payment_rail",
  "amount_paid",
  "paid_at",
  "paid_event_hash",
];
const LINE_VALUES = sql.raw(
  LINE_COLUMNS.map((name) =>
    name === "referral_commission" ? `CASE WHEN d.lose THEN 0 ELSE l.referral_commission END` : `l."${name}"`,
  ).join(", "),
);

/**
 * One statement for a batch of new orders paid at once (the grouped `order.paid`, none with a
 * coupon): what `insertOrder` and then `markOrderPaid` write for each, with the orders inserted in
 * `paid` rather than inserted `created` and updated — the orders with their payment and their lines
 * (without the referral when the buyer has paid before, under `first_order`), the buyers (created, or
 * given their first-touch attribution), the buyers' first-paid-order rows, and the audit entries;
 * answered per order with `markOrderPaid`'s columns. All of them or nothing but the buyers and
 * first-paid rows: when any order already exists the answer is missing it (the caller rolls back and
 * records the events one by one). The buyers must be distinct, and each payment in its order's
 * currency. Each order comes with an id drawn from the rewards' sequence, for the reward it may get
 * (so the caller knows the reward's id, and its webhook's answer, before the reward is inserted; an id
 * not used is a gap).
 *
 * Locks in the one-event path's order (`insertOrder` writes the order's key, then the buyer's row;
 * `markOrderPaid` then the buyer's first-paid key): `buyer` reads `complete` and `first_paid` reads
 * `buyer`, so each runs after the one before it. Taking the buyer's row first deadlocked with the
 * one-event path paying the same order under another webhook id (order-paid-batch.test.ts).
 *
 * The `first_order` decision is made from the first-paid rows as the statement's snapshot shows them,
 * since the orders are written before the first-paid rows; the first-paid insert (ON CONFLICT DO
 * NOTHING, which sees what committed meanwhile and waits for what is in flight) is the arbiter. When
 * it disagrees with the read — another payment of the same buyer took the row after the snapshot —
 * the answer is "first_paid_taken", and the caller rolls back for the one-event path to decide.
 * The read is one index probe per order: OFFSET 0 keeps the EXISTS from being turned into a hashed
 * subplan (and the lateral from being pulled up, which evaluated it twice) — with the JSON rows
 * estimated at 100, the planner hashed the whole table on every group, a cost that grew with every
 * buyer who ever paid (8,000 rows a group in the ingest benchmark; hot-plans.test.ts failed so).
 */
export async function insertPaidOrders(
  trx: DbOrTx,
  orders: Array<InsertOrderInput & { payment: Payment }>,
  scope: "first_order" | "window",
): Promise<Map<string, { order: PaidOrder; rewardId: bigint }> | "first_paid_taken"> {
  const buyers = orders
    .flatMap((o) => (o.buyer ? [o.buyer] : []))
    .map((b) => ({
      member_id: b.memberId,
      referred_by_member_id: b.durable?.referrerMemberId ?? null,
      referred_by_code: b.durable?.code ?? null,
      attribution_source: b.durable?.source ?? null,
      attributed_at: b.durable?.attributedAt ?? null,
    }));
  const payments = orders.map((o) => ({
    order_reference: o.order.order_reference,
    amount_paid: o.payment.amountPaid.toString(),
    payment_rail: o.payment.paymentRail,
    paid_at: o.payment.paidAt.toISOString(),
    terms_hash: o.payment.termsHash,
  }));
  const audit: AuditRow[] = orders.flatMap((o) => o.audit);
  const result = await sql<PaidOrderRow & { reward_id: string; first_paid_as_read: boolean }>`${prepared(
    "insert-paid-orders",
  )}
    WITH o AS (SELECT * FROM json_populate_recordset(NULL::orders, ${JSON.stringify(orders.map((o) => o.order))}::json)),
    e AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(payments)}::json)
        AS x(order_reference text, amount_paid bigint, payment_rail text, paid_at timestamptz, terms_hash text)
    ),
    d AS (
      SELECT o.order_reference, seen.paid_before,
             (o.referral_applied AND ${scope}::text = 'first_order' AND seen.paid_before) AS lose
        FROM o CROSS JOIN LATERAL (
          SELECT o.buyer_member_id IS NOT NULL AND EXISTS (
                   SELECT 1 FROM buyer_first_paid_orders f WHERE f.buyer_member_id = o.buyer_member_id OFFSET 0)
                 AS paid_before OFFSET 0) seen
    ),
    paid AS (
      INSERT INTO orders (${columnList(PAID_COLUMNS)})
      SELECT ${PAID_VALUES}
        FROM o JOIN d ON d.order_reference = o.order_reference JOIN e ON e.order_reference = o.order_reference
      ON CONFLICT (order_reference) DO NOTHING
      RETURNING *
    ),
    complete AS (SELECT count(*) = ${orders.length}::int AS ok FROM paid),
    buyer AS (
      INSERT INTO members (member_id, referred_by_member_id, referred_by_code, attribution_source, attributed_at)
      SELECT b.member_id, b.referred_by_member_id, b.referred_by_code, b.attribution_source, b.attributed_at
        FROM json_to_recordset(${JSON.stringify(buyers)}::json)
          AS b(member_id text, referred_by_member_id text, referred_by_code text, attribution_source text,
               attributed_at timestamptz)
       WHERE (SELECT count(*) FROM complete) > 0
       ORDER BY b.member_id COLLATE "C"
      ${BUYER_FIRST_TOUCH}
      RETURNING 1
    ),
    first_paid AS (
      INSERT INTO buyer_first_paid_orders (buyer_member_id, order_reference)
      SELECT o.buyer_member_id, o.order_reference FROM o
       WHERE o.buyer_member_id IS NOT NULL AND (SELECT count(*) FROM buyer) >= 0
       ORDER BY o.buyer_member_id COLLATE "C"
      ON CONFLICT DO NOTHING
      RETURNING order_reference
    ),
    paid_lines AS (
      INSERT INTO order_lines (${columnList(LINE_COLUMNS)})
      SELECT ${LINE_VALUES}
        FROM json_populate_recordset(NULL::order_lines, ${JSON.stringify(orders.flatMap((o) => o.lines))}::json) l
        JOIN d ON d.order_reference = l.order_reference
       WHERE (SELECT ok FROM complete)
      RETURNING *
    ),
    audit AS (${orderLinesAndAudit.audit(audit)} WHERE (SELECT ok FROM complete))
    SELECT ${paidOrderColumns(sql`paid_lines`)},
           nextval(pg_get_serial_sequence('referral_rewards', 'id'))::text AS reward_id,
           (p.buyer_member_id IS NULL
            OR (p.order_reference IN (SELECT f.order_reference FROM first_paid f)) = NOT p.paid_before)
             AS first_paid_as_read
      FROM (SELECT paid.*, d.lose AS referral_lost, d.paid_before
              FROM paid JOIN d ON d.order_reference = paid.order_reference) p
     WHERE (SELECT ok FROM complete)`.execute(trx);
  if (result.rows.some((row) => !row.first_paid_as_read)) return "first_paid_taken";
  return new Map(
    result.rows.map(({ reward_id, first_paid_as_read: _, ...row }) => [
      row.order_reference,
      { order: toPaidOrder(row), rewardId: BigInt(reward_id) },
    ]),
  );
}
