/**
 * What the schema (`migrations/*.sql`) accepts, in one place, so the HTTP validators
 * (`src/http/validate.ts`) refuse with a 400 naming the field whatever the database would refuse with
 * an error (a 500). The SQL is the truth: each constant names the migration line it mirrors; change
 * both together.
 */

/** PostgreSQL `bigint` / `bigserial` (int8): every fiat amount column and every row id. */
export const INT8_MAX = 9_223_372_036_854_775_807n;

/** PostgreSQL `integer` (int4). */
export const INT4_MAX = 2_147_483_647;

/**
 * `numeric(78, 0)`: wei columns (`orders.wei_per_minor_unit`, `referral_rewards.amount_wei`,
 * `journal_entries.amount`, 0001_init.sql:95, 0001_init.sql:214, 0002_ledger.sql:14): 78 digits.
 * No request field carries wei today (every amount on the wire is fiat minor units, int8); this is
 * the bound a wei field on the wire would need.
 */
export const NUMERIC_78_MAX = 10n ** 78n - 1n;

/**
 * Fiat amounts in minor units, all `bigint` columns, all `>= 0`:
 * `order_lines.unit_amount` (0001_init.sql:121), `orders.shipping_amount` / `discount_amount`
 * (0001_init.sql:90-91), `orders.amount_paid` (0001_init.sql:99), `order_refunds.amount`
 * (0002_ledger.sql:50), `disputes.amount` (0002_ledger.sql:65), `membership_payments.amount_paid`
 * (0002_ledger.sql:160).
 *
 * Derived ones the database computes or checks from those, also `bigint`:
 * `order_lines.subtotal = unit_amount * quantity` (0001_init.sql:122), `orders.merchandise_amount`
 * (Σ subtotals, 0001_init.sql:89) and `orders.gross_amount = merchandise - discount + shipping`
 * (0001_init.sql:92). Each of them must stay within `AMOUNT_MAX` too.
 */
export const AMOUNT_MAX = INT8_MAX;

/** `bigserial` row ids (`referral_rewards.id` 0001_init.sql:202, `payouts.id` 0001_init.sql:134, …). */
export const ROW_ID_MAX = INT8_MAX;

/** `order_lines.quantity integer CHECK (quantity > 0)` (0001_init.sql:120). */
export const QUANTITY_MAX = INT4_MAX;

/**
 * Lengths, in characters (PostgreSQL `length()` counts code points; a JavaScript string's length
 * counts UTF-16 units, never fewer, so a zod `.max(n)` is at least as strict as the CHECK).
 */
export const TEXT_MAX = {
  /** `members.member_id` (0001_init.sql:6). */
  memberId: 128,
  /** `members.display_name` (0001_init.sql:7). */
  displayName: 120,
  /** `vendors.vendor_id` (0001_init.sql:62). */
  vendorId: 128,
  /** `vendors.name` (0001_init.sql:63). */
  vendorName: 200,
  /** `products.product_id` (0001_init.sql:72). */
  productId: 128,
  /** `orders.order_reference` (0001_init.sql:80). */
  orderReference: 128,
  /** `order_lines.line_id` (0001_init.sql:116). */
  lineId: 128,
  /** `membership_payments.membership_reference` (0002_ledger.sql:158). */
  membershipReference: 128,
  /** `webhook_events.event_id`, the `webhook-id` header (0001_init.sql:242). */
  webhookEventId: 256,
  /** `idempotency_keys.key`, the `Idempotency-Key` header (0001_init.sql:263). */
  idempotencyKey: 255,
  /** `order_refunds.refund_id` (0002_ledger.sql:48). */
  refundId: 256,
  /** `disputes.dispute_id` (0002_ledger.sql:63). */
  disputeId: 256,
} as const;

/** Every text identifier the API takes (member, vendor, product, order, line ids) shares this limit. */
export const ID_MAX = Math.min(
  TEXT_MAX.memberId,
  TEXT_MAX.vendorId,
  TEXT_MAX.productId,
  TEXT_MAX.orderReference,
  TEXT_MAX.lineId,
  TEXT_MAX.membershipReference,
);

/**
 * A lost chargeback is recorded as a refund with the id `dispute:<disputeId>` (src/ledger/
 * record-chargeback.ts), so a disputeId must leave room for the prefix in `order_refunds.refund_id`.
 */
export const DISPUTE_REFUND_PREFIX = "dispute:";
export const DISPUTE_ID_MAX = Math.min(TEXT_MAX.disputeId, TEXT_MAX.refundId - DISPUTE_REFUND_PREFIX.length);

/** Rates and days: `referral_commission_bps` (0001_init.sql:64, 74, 125), `platform_fee_bps` (65, 128), `hold_days` (66). */
export const COMMISSION_BPS_MAX = 5000;
export const PLATFORM_FEE_BPS_MAX = 10_000;
export const HOLD_DAYS_MAX = 365;

/** `currency ~ '^[A-Z]{3}$'` (0001_init.sql:83 and every other currency column). */
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;

/**
 * Instants the API accepts. PostgreSQL's timestamptz reaches from 4713 BC to 294276 AD, but a
 * JavaScript Date before year 1 or after 9999 does not survive the drivers' and `date`'s text forms
 * (year 0 is "0000", which PostgreSQL refuses; `toISOString` writes a 6-digit signed year after 9999).
 * Nothing legitimate (payments, refunds, report ranges) predates the Unix epoch, so: 1970 to 9999.
 */
export const INSTANT_MIN = new Date("1970-01-01T00:00:00.000Z");
export const INSTANT_MAX = new Date("9999-12-31T23:59:59.999Z");

/** PostgreSQL `text` and `jsonb` cannot hold U+0000; any string with it is refused. */
export const NUL = "\u0000";
