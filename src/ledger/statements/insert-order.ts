import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { type AuditRow, auditRowsJson } from "../audit.js";

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
}

const ORDER_COLUMNS = [
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
];
const LINE_COLUMNS = [
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
  "platform_fee_bps",
  "referral_commission",
];
const AUDIT_COLUMNS = ["actor", "action", "subject_type", "subject_id", "before", "after", "request_id"];

const columns = (names: string[], alias?: string) =>
  sql.join(names.map((name) => (alias ? sql.ref(`${alias}.${name}`) : sql.ref(name))));

/**
 * One statement: the buyer (created, or given its first-touch attribution), the order, its lines and
 * the audit entries. When another transaction created the same order first, nothing but the buyer is
 * written and the answer is false (the caller answers as a repeat would).
 */
export async function insertOrder(trx: DbOrTx, input: InsertOrderInput): Promise<boolean> {
  const buyer = input.buyer;
  const durable = buyer?.durable ?? null;
  const buyerCte = buyer
    ? sql`buyer AS (
        INSERT INTO members (member_id, referred_by_member_id, referred_by_code, attribution_source, attributed_at)
        VALUES (${buyer.memberId}, ${durable?.referrerMemberId ?? null}, ${durable?.code ?? null},
                ${durable?.source ?? null}, ${durable?.attributedAt ?? null})
        ON CONFLICT (member_id) DO UPDATE SET
          referred_by_member_id = EXCLUDED.referred_by_member_id,
          referred_by_code = EXCLUDED.referred_by_code,
          attribution_source = EXCLUDED.attribution_source,
          attributed_at = EXCLUDED.attributed_at,
          updated_at = now()
        WHERE members.referred_by_member_id IS NULL AND EXCLUDED.referred_by_member_id IS NOT NULL
      ),`
    : sql``;
  const result = await sql<{ order_reference: string }>`
    WITH ${buyerCte}
    ins AS (
      INSERT INTO orders (${columns(ORDER_COLUMNS)})
      SELECT ${columns(ORDER_COLUMNS, "o")} FROM json_populate_record(NULL::orders, ${JSON.stringify(input.order)}::json) o
      ON CONFLICT (order_reference) DO NOTHING
      RETURNING order_reference
    ),
    lines AS (
      INSERT INTO order_lines (${columns(LINE_COLUMNS)})
      SELECT ${columns(LINE_COLUMNS, "l")}
        FROM json_populate_recordset(NULL::order_lines, ${JSON.stringify(input.lines)}::json) l
       WHERE EXISTS (SELECT 1 FROM ins)
    ),
    audit AS (
      INSERT INTO audit_log (${columns(AUDIT_COLUMNS)})
      SELECT ${columns(AUDIT_COLUMNS, "a")}
        FROM json_populate_recordset(NULL::audit_log, ${auditRowsJson(input.audit)}::json) a
       WHERE EXISTS (SELECT 1 FROM ins)
    )
    SELECT order_reference FROM ins`.execute(trx);
  return result.rows.length > 0;
}
