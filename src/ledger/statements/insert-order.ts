import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { type AuditRow, auditRowsJson } from "../audit.js";
import { columnList } from "./columns.js";

export interface InsertOrderInput {
  /** The buyer: created if new; `durable` makes a checkout attribution its first-touch referredBy. */
  buyer: {
    memberId: string;
    durable: {
      referrerMemberId: string;
      code: string;
      source: "ref_code" | "cookie" | "click_id";
      attributedAt: Date;
    } | null;
  } | null;
  /** The `orders` row, amounts as decimal strings. */
  order: Record<string, string | number | boolean | null>;
  lines: Array<Record<string, string | number | null>>;
  audit: AuditRow[];
  /**
   * The coupon to redeem with the order: one conditional UPDATE (active, not expired at `now`, under
   * `max_redemptions`) that gates every insert of the statement — when it redeems nothing, nothing is
   * written and the answer says `couponRefused`.
   */
  coupon?: { code: string; now: Date } | null;
}

/** What `insertOrder` wrote. */
export interface InsertOrderResult {
  /** The order was inserted (false: another transaction created it first, or the coupon refused). */
  inserted: boolean;
  /** The coupon's redemption was counted (undo it when `inserted` is false: see createOrder). */
  redeemed: boolean;
  /** A coupon was given and could not be redeemed any more: nothing was written. */
  couponRefused: boolean;
}

export const ORDER_COLUMNS = [
  "order_reference",
  "request_hash",
  "buyer_member_id",
  "currency",
  "referral_applied",
  "referrer_member_id",
  "referral_code",
  "attribution_source",
  "attribution_reason",
  "merchandise_amount",
  "shipping_amount",
  "discount_amount",
  "gross_amount",
  "referral_commission",
  "wei_per_minor_unit",
  "buyer_ip_hash",
  "coupon_code",
  "coupon_status",
];
export const LINE_COLUMNS = [
  "order_reference",
  "line_id",
  "position",
  "vendor_id",
  "product_id",
  "quantity",
  "unit_amount",
  "subtotal",
  "discount",
  "commission_base",
  "commission_bps",
  "rate_source",
  "rate_tier",
  "platform_fee_bps",
  "referral_commission",
];
const AUDIT_COLUMNS = ["actor", "action", "subject_type", "subject_id", "before", "after", "request_id"];

/**
 * An order's lines and audit rows as CTE bodies over JSON rows, each to be gated by a WHERE after it
 * (only with the order: its rows are `l` / `a`). Shared with insert-paid-orders.ts.
 */
export const orderLinesAndAudit = {
  lines: (rows: InsertOrderInput["lines"]) => sql`INSERT INTO order_lines (${columnList(LINE_COLUMNS)})
      SELECT ${columnList(LINE_COLUMNS, "l")}
        FROM json_populate_recordset(NULL::order_lines, ${JSON.stringify(rows)}::json) l`,
  audit: (rows: AuditRow[]) => sql`INSERT INTO audit_log (${columnList(AUDIT_COLUMNS)})
      SELECT ${columnList(AUDIT_COLUMNS, "a")}
        FROM json_populate_recordset(NULL::audit_log, ${auditRowsJson(rows)}::json) a`,
};

/**
 * The buyer's upsert: created, or given a first-touch attribution if it has none yet (never replaced).
 * Shared with insert-paid-orders.ts.
 */
export const BUYER_FIRST_TOUCH = sql`ON CONFLICT (member_id) DO UPDATE SET
          referred_by_member_id = EXCLUDED.referred_by_member_id,
          referred_by_code = EXCLUDED.referred_by_code,
          attribution_source = EXCLUDED.attribution_source,
          attributed_at = EXCLUDED.attributed_at,
          updated_at = now()
        WHERE members.referred_by_member_id IS NULL AND EXCLUDED.referred_by_member_id IS NOT NULL`;

/**
 * One statement: the buyer (created, or given its first-touch attribution), the order, its lines and
 * the audit entries. When another transaction created the same order first, nothing but the buyer is
 * written and the answer is false (the caller answers as a repeat would). With a coupon, its
 * redemption comes first (the coupon's row lock, before the buyer's: docs/ledger.md "Lock order").
 */
export async function insertOrder(trx: DbOrTx, input: InsertOrderInput): Promise<InsertOrderResult> {
  const buyer = input.buyer;
  const durable = buyer?.durable ?? null;
  const coupon = input.coupon ?? null;
  const couponCte = coupon
    ? sql`redeem AS (
        UPDATE coupons SET redemptions = redemptions + 1
         WHERE code = ${coupon.code} AND active AND (expires_at IS NULL OR expires_at > ${coupon.now})
           AND (max_redemptions IS NULL OR redemptions < max_redemptions)
        RETURNING code
      ),`
    : sql``;
  const gate = coupon ? sql`WHERE EXISTS (SELECT 1 FROM redeem)` : sql``;
  const buyerValues = coupon
    ? sql`SELECT ${buyer?.memberId ?? null}::text, ${durable?.referrerMemberId ?? null}::text,
                 ${durable?.code ?? null}::text, ${durable?.source ?? null}::text,
                 ${durable?.attributedAt ?? null}::timestamptz ${gate}`
    : sql`VALUES (${buyer?.memberId ?? null}, ${durable?.referrerMemberId ?? null}, ${durable?.code ?? null},
                ${durable?.source ?? null}, ${durable?.attributedAt ?? null})`;
  const buyerCte = buyer
    ? sql`buyer AS (
        INSERT INTO members (member_id, referred_by_member_id, referred_by_code, attribution_source, attributed_at)
        ${buyerValues}
        ${BUYER_FIRST_TOUCH}
      ),`
    : sql``;
  const result = await sql<{ order_reference: string | null; redeemed?: boolean }>`${prepared("insert-order")}
    WITH ${couponCte} ${buyerCte}
    ins AS (
      INSERT INTO orders (${columnList(ORDER_COLUMNS)})
      SELECT ${columnList(ORDER_COLUMNS, "o")} FROM json_populate_record(NULL::orders, ${JSON.stringify(input.order)}::json) o
      ${gate}
      ON CONFLICT (order_reference) DO NOTHING
      RETURNING order_reference
    ),
    lines AS (${orderLinesAndAudit.lines(input.lines)} WHERE EXISTS (SELECT 1 FROM ins)),
    audit AS (${orderLinesAndAudit.audit(input.audit)} WHERE EXISTS (SELECT 1 FROM ins))
    ${
      coupon
        ? sql`SELECT (SELECT order_reference FROM ins) AS order_reference, EXISTS (SELECT 1 FROM redeem) AS redeemed`
        : sql`SELECT order_reference FROM ins`
    }`.execute(trx);
  const row = result.rows[0];
  const inserted = !!row?.order_reference;
  const redeemed = row?.redeemed === true;
  return { inserted, redeemed, couponRefused: coupon !== null && !redeemed };
}
