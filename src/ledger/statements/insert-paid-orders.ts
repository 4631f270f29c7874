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
 * `paid` rather than inserted `created` and updated — the buyers (created, or given their first-touch
 * attribution), the buyers' first-paid-order rows (ON CONFLICT DO NOTHING: the `first_order`
 * decision, see mark-order-paid.ts), the orders with their payment and their lines (without the
 * referral when the buyer has paid before, under `first_order`), and the audit entries; answered per
 * order with `markOrderPaid`'s columns. All of them or nothing but the buyers and first-paid rows: when
 * any order already exists the answer is missing it (the caller rolls back and records the events one
 * by one). The buyers must be distinct, and each payment in its order's currency. Each order comes
 * with an id drawn from the rewards' sequence, for the reward it may get (so the caller knows the
 * reward's id, and its webhook's answer, before the reward is inserted; an id not used is a gap).
 *
 * Within the statement the buyers' rows are written before their first-paid rows (`first_paid` reads
 * `buyer`), as in the one-event path (`insertOrder`, then `markOrderPaid`): the same two locks of one
 * buyer in the same order, whichever path takes them.
 */
export async function insertPaidOrders(
  trx: DbOrTx,
  orders: Array<InsertOrderInput & { payment: Payment }>,
  scope: "first_order" | "window",
): Promise<Map<string, { order: PaidOrder; rewardId: bigint }>> {
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
  const result = await sql<PaidOrderRow & { reward_id: string }>`${prepared("insert-paid-orders")}
    WITH buyer AS (
      INSERT INTO members (member_id, referred_by_member_id, referred_by_code, attribution_source, attributed_at)
      SELECT b.member_id, b.referred_by_member_id, b.referred_by_code, b.attribution_source, b.attributed_at
        FROM json_to_recordset(${JSON.stringify(buyers)}::json)
          AS b(member_id text, referred_by_member_id text, referred_by_code text, attribution_source text,
               attributed_at timestamptz)
       ORDER BY b.member_id COLLATE "C"
      ${BUYER_FIRST_TOUCH}
      RETURNING 1
    ),
    o AS (SELECT * FROM json_populate_recordset(NULL::orders, ${JSON.stringify(orders.map((o) => o.order))}::json)),
    e AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(payments)}::json)
        AS x(order_reference text, amount_paid bigint, payment_rail text, paid_at timestamptz, terms_hash text)
    ),
    first_paid AS (
      INSERT INTO buyer_first_paid_orders (buyer_member_id, order_reference)
      SELECT o.buyer_member_id, o.order_reference FROM o
       WHERE o.buyer_member_id IS NOT NULL AND (SELECT count(*) FROM buyer) >= 0
       ORDER BY o.buyer_member_id COLLATE "C"
      ON CONFLICT DO NOTHING
      RETURNING order_reference
    ),
    d AS (
      SELECT o.order_reference,
             (o.referral_applied AND ${scope}::text = 'first_order' AND o.buyer_member_id IS NOT NULL
              AND o.order_reference NOT IN (SELECT f.order_reference FROM first_paid f)) AS lose
        FROM o
    ),
    paid AS (
      INSERT INTO orders (${columnList(PAID_COLUMNS)})
      SELECT ${PAID_VALUES}
        FROM o JOIN d ON d.order_reference = o.order_reference JOIN e ON e.order_reference = o.order_reference
      ON CONFLICT (order_reference) DO NOTHING
      RETURNING *
    ),
    complete AS (SELECT count(*) = ${orders.length}::int AS ok FROM paid),
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
           nextval(pg_get_serial_sequence('referral_rewards', 'id'))::text AS reward_id
      FROM (SELECT paid.*, d.lose AS referral_lost FROM paid JOIN d ON d.order_reference = paid.order_reference) p
     WHERE (SELECT ok FROM complete)`.execute(trx);
  return new Map(
    result.rows.map(({ reward_id, ...row }) => [
      row.order_reference,
      { order: toPaidOrder(row), rewardId: BigInt(reward_id) },
    ]),
  );
}
