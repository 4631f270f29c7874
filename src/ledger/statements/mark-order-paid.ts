import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import type { PaymentRail } from "../../db/schema.js";
import type { RateSource } from "../../domain/rates.js";

/** A paid order with everything both rails are written from. */
export interface PaidOrder {
  order_reference: string;
  currency: string;
  buyer_member_id: string | null;
  referral_applied: boolean;
  referrer_member_id: string | null;
  referral_code: string | null;
  shipping_amount: bigint;
  discount_amount: bigint;
  gross_amount: bigint;
  referral_commission: bigint;
  wei_per_minor_unit: bigint;
  /** Referred at checkout, but not the buyer's first paid order (scope `first_order`): paid unreferred. */
  referral_lost: boolean;
  lines: Array<{
    line_id: string;
    vendor_id: string;
    product_id: string | null;
    quantity: number;
    unit_amount: string;
    commission_bps: number;
    rate_source: RateSource;
    platform_fee_bps: number;
  }>;
  /** vendor id → hold days. */
  hold_days: Record<string, number>;
  referrer_wallet: string | null;
  /** The referrer's clawback debt as last committed (read without a lock; see createReward). */
  referrer_debt: bigint;
}

export interface PaidOrderRow
  extends Omit<
    PaidOrder,
    | "shipping_amount"
    | "discount_amount"
    | "gross_amount"
    | "referral_commission"
    | "wei_per_minor_unit"
    | "referrer_debt"
  > {
  shipping_amount: string;
  discount_amount: string;
  gross_amount: string;
  referral_commission: string;
  wei_per_minor_unit: string;
  referrer_debt: string | null;
}

/**
 * One statement: `created → paid` as a conditional update (which is also the order's row lock), the
 * `first_order` decision (see `first_paid` below), and in the same round trip the snapshotted lines,
 * the vendors' hold days, the referrer's wallet and clawback debt. Undefined when the order is
 * unknown, not `created` any more, or in another currency.
 */
export async function markOrderPaid(
  trx: DbOrTx,
  event: {
    orderReference: string;
    currency: string;
    amountPaid: bigint;
    paymentRail: PaymentRail;
    paidAt: Date;
    termsHash: string;
    /** ATTRIBUTION_SCOPE: under `first_order` only the buyer's first paid order keeps its referral. */
    scope: "first_order" | "window";
  },
): Promise<PaidOrder | undefined> {
  // `first_paid` claims the buyer's first-paid-order row (0007) before the order row is updated: the
  // primary key is the buyer's lock (first in the lock order), and ON CONFLICT sees a concurrent
  // payment of another cart of the same buyer (it waits for it), whatever this statement's snapshot.
  // Under `first_order`, a referred order that does not get the row is paid without its referral:
  // the order row (and its lines) lose the commission, and both rails are written without it.
  // The UPDATE names the order's key itself, not only through `decide`: joined through the CTE alone,
  // the generic plan could scan every order in `created` (seen with auto_explain in the ingest
  // benchmark, on tables without statistics); with the key there is no plan without the primary key.
  const result = await sql<PaidOrderRow>`${prepared("mark-order-paid")}
    WITH target AS (
      SELECT o.order_reference, o.buyer_member_id, o.referral_applied FROM orders o
       WHERE o.order_reference = ${event.orderReference} AND o.status = 'created' AND o.currency = ${event.currency}
    ),
    first_paid AS (
      INSERT INTO buyer_first_paid_orders (buyer_member_id, order_reference)
      SELECT t.buyer_member_id, t.order_reference FROM target t WHERE t.buyer_member_id IS NOT NULL
      ON CONFLICT DO NOTHING
      RETURNING order_reference
    ),
    decide AS (
      SELECT t.order_reference,
             (t.referral_applied AND ${event.scope}::text = 'first_order' AND t.buyer_member_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM first_paid)) AS lose
        FROM target t
    ),
    paid AS (
      UPDATE orders o SET ${paidSet({
        paymentRail: sql`${event.paymentRail}`,
        amountPaid: sql`${event.amountPaid}`,
        paidAt: sql`${event.paidAt}`,
        termsHash: sql`${event.termsHash}`,
      })}
        FROM decide d
       WHERE o.order_reference = ${event.orderReference} AND o.order_reference = d.order_reference
         AND o.status = 'created' AND o.currency = ${event.currency}
      RETURNING o.*, d.lose AS referral_lost
    ),
    ${PAID_ORDER_ANSWER}`.execute(trx);
  const row = result.rows[0];
  return row ? toPaidOrder(row) : undefined;
}

/**
 * An order paid without its referral (`d.lose`, see `first_paid`): its referral columns, as
 * expressions over the order as checkout wrote it (`o`). The UPDATE below sets them;
 * insert-paid-orders.ts inserts them.
 */
export const PAID_REFERRAL: Readonly<Record<string, string>> = {
  referral_applied: "o.referral_applied AND NOT d.lose",
  referrer_member_id: "CASE WHEN d.lose THEN NULL ELSE o.referrer_member_id END",
  referral_code: "CASE WHEN d.lose THEN NULL ELSE o.referral_code END",
  attribution_source: "CASE WHEN d.lose THEN NULL ELSE o.attribution_source END",
  attribution_reason: "CASE WHEN d.lose THEN 'not_first_order' ELSE o.attribution_reason END",
  referral_commission: "CASE WHEN d.lose THEN 0 ELSE o.referral_commission END",
};
const REFERRAL_SET = sql.raw(
  Object.entries(PAID_REFERRAL)
    .map(([column, value]) => `${column} = ${value}`)
    .join(", "),
);

/**
 * `created → paid` as the SET list of the update of `orders o` joined to `decide d` (whose `lose`
 * says the order is paid without its referral, see `first_paid`): the payment's values as given.
 */
function paidSet(values: { paymentRail: Sql; amountPaid: Sql; paidAt: Sql; termsHash: Sql }): Sql {
  return sql`status = 'paid', payment_rail = ${values.paymentRail}, amount_paid = ${values.amountPaid},
             paid_at = ${values.paidAt}, paid_event_hash = ${values.termsHash}, updated_at = now(),
             ${REFERRAL_SET}`;
}
type Sql = RawBuilder<unknown>;

/**
 * What a paid order answers with, over the `paid` CTE's rows (alias `p`): the snapshotted lines (from
 * `lines`: `order_lines`, or the lines a statement inserts, which it cannot read back from the table),
 * the vendors' hold days, the referrer's wallet and clawback debt. Shared with insert-paid-orders.ts.
 */
export const paidOrderColumns = (lines: Sql) => sql`
           p.order_reference, p.referral_lost, p.currency, p.buyer_member_id, p.referral_applied, p.referrer_member_id,
           p.referral_code, p.shipping_amount::text, p.discount_amount::text, p.gross_amount::text,
           p.referral_commission::text, p.wei_per_minor_unit::text,
           (SELECT coalesce(json_agg(json_build_object('line_id', l.line_id, 'vendor_id', l.vendor_id,
                     'product_id', l.product_id, 'quantity', l.quantity, 'unit_amount', l.unit_amount::text,
                     'commission_bps', l.commission_bps, 'rate_source', l.rate_source,
                     'platform_fee_bps', l.platform_fee_bps) ORDER BY l.position), '[]')
              FROM ${lines} l WHERE l.order_reference = p.order_reference) AS lines,
           (SELECT coalesce(json_object_agg(v.vendor_id, v.hold_days), '{}')
              FROM vendors v
             WHERE v.vendor_id IN (SELECT l.vendor_id FROM ${lines} l WHERE l.order_reference = p.order_reference))
             AS hold_days,
           (SELECT m.wallet_address FROM members m WHERE m.member_id = p.referrer_member_id) AS referrer_wallet,
           (SELECT c.debt_after::text FROM clawbacks c WHERE c.referrer_member_id = p.referrer_member_id
             ORDER BY c.id DESC LIMIT 1) AS referrer_debt`;
const PAID_ORDER_COLUMNS = paidOrderColumns(sql`order_lines`);

/**
 * The end of the statement after the `paid` CTE: the lines of orders paid without their referral lose
 * their commission, and each paid order is answered with `PAID_ORDER_COLUMNS`.
 */
const PAID_ORDER_ANSWER = sql`lines_unreferred AS (
      UPDATE order_lines SET referral_commission = 0
       WHERE order_reference IN (SELECT order_reference FROM paid WHERE referral_lost)
    )
    SELECT ${PAID_ORDER_COLUMNS}
      FROM paid p`;

export function toPaidOrder(row: PaidOrderRow): PaidOrder {
  return {
    ...row,
    shipping_amount: BigInt(row.shipping_amount),
    discount_amount: BigInt(row.discount_amount),
    gross_amount: BigInt(row.gross_amount),
    referral_commission: BigInt(row.referral_commission),
    wei_per_minor_unit: BigInt(row.wei_per_minor_unit),
    referrer_debt: BigInt(row.referrer_debt ?? "0"),
  };
}
