import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
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

interface Row
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
 * One statement: `created → paid` as a conditional update (which is also the order's row lock), and
 * in the same round trip the snapshotted lines, the vendors' hold days, the referrer's wallet and
 * clawback debt. Undefined when the order is unknown, not `created` any more, or in another currency.
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
  },
): Promise<PaidOrder | undefined> {
  const result = await sql<Row>`
    WITH paid AS (
      UPDATE orders SET status = 'paid', payment_rail = ${event.paymentRail}, amount_paid = ${event.amountPaid},
             paid_at = ${event.paidAt}, paid_event_hash = ${event.termsHash}, updated_at = now()
       WHERE order_reference = ${event.orderReference} AND status = 'created' AND currency = ${event.currency}
      RETURNING *
    )
    SELECT p.order_reference, p.currency, p.buyer_member_id, p.referral_applied, p.referrer_member_id,
           p.referral_code, p.shipping_amount::text, p.discount_amount::text, p.gross_amount::text,
           p.referral_commission::text, p.wei_per_minor_unit::text,
           (SELECT coalesce(json_agg(json_build_object('line_id', l.line_id, 'vendor_id', l.vendor_id,
                     'product_id', l.product_id, 'quantity', l.quantity, 'unit_amount', l.unit_amount::text,
                     'commission_bps', l.commission_bps, 'rate_source', l.rate_source,
                     'platform_fee_bps', l.platform_fee_bps) ORDER BY l.position), '[]')
              FROM order_lines l WHERE l.order_reference = p.order_reference) AS lines,
           (SELECT coalesce(json_object_agg(v.vendor_id, v.hold_days), '{}')
              FROM vendors v
             WHERE v.vendor_id IN (SELECT l.vendor_id FROM order_lines l WHERE l.order_reference = p.order_reference))
             AS hold_days,
           (SELECT m.wallet_address FROM members m WHERE m.member_id = p.referrer_member_id) AS referrer_wallet,
           (SELECT c.debt_after::text FROM clawbacks c WHERE c.referrer_member_id = p.referrer_member_id
             ORDER BY c.id DESC LIMIT 1) AS referrer_debt
      FROM paid p`.execute(trx);
  const row = result.rows[0];
  if (!row) return undefined;
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
