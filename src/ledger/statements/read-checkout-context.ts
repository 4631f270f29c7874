import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import type { ResolvedReferralCode } from "../../domain/attribution.js";
import { normalizeCode } from "../../domain/codes.js";
import type { CheckoutCoupon } from "../../domain/coupons.js";
import { ANY_VENDOR } from "../../domain/rates.js";

/** What checkout decides from: the order (if it exists), the catalog, the buyer and the codes. */
export interface CheckoutContext {
  existing: { order_reference: string; request_hash: string } | null;
  vendors: Array<{
    vendor_id: string;
    referral_commission_bps: number | null;
    platform_fee_bps: number;
    hold_days: number;
  }>;
  products: Array<{ product_id: string; vendor_id: string; referral_commission_bps: number | null }>;
  buyer: {
    member_id: string;
    wallet_address: string | null;
    referred_by_member_id: string | null;
    referred_by_code: string | null;
    attributed_at: Date | null;
    referred_by_wallet: string | null;
    referred_by_display_name: string | null;
  } | null;
  buyerPaidOrders: number;
  /** Tier assignments of every candidate referrer (code, coupon and referredBy owners). */
  memberTiers: Array<{ member_id: string; vendor_id: string; tier: string }>;
  /** Tier rates for the order's vendors and platform-wide (`*`). */
  tierRates: Array<{ tier: string; vendor_id: string; commission_bps: number }>;
  /** A raw coupon code → the coupon, "unknown", or null when none was sent. */
  coupon(raw: string | null | undefined): CheckoutCoupon | "unknown" | null;
  /** A raw code as checkout received it → resolved, "unknown", or null when none was sent. */
  resolve(raw: string | null | undefined): ResolvedReferralCode | "unknown" | null;
  codeOwnerName(code: string): string | null | undefined;
}

export interface ContextRow {
  existing: { order_reference: string; request_hash: string } | null;
  vendors: CheckoutContext["vendors"];
  products: CheckoutContext["products"];
  buyer:
    | (Omit<NonNullable<CheckoutContext["buyer"]>, "attributed_at"> & { attributed_at: string | null })
    | null;
  codes: Array<ResolvedReferralCodeRow>;
  buyer_paid_orders: number;
  coupons: Array<{
    code: string;
    owner_member_id: string;
    wallet_address: string | null;
    display_name: string | null;
    active: boolean;
    expires_at: string | null;
    max_redemptions: number | null;
    redemptions: number;
    currency: string | null;
  }>;
  member_tiers: CheckoutContext["memberTiers"];
  tier_rates: CheckoutContext["tierRates"];
}

interface ResolvedReferralCodeRow {
  code: string;
  owner_member_id: string;
  active: boolean;
  wallet_address: string | null;
  display_name: string | null;
}

/** The parameters of the context's sub-selects, as SQL expressions (values, or columns of a batch). */
export interface ContextParams {
  orderReference: Sql;
  /** text[] expressions. */
  vendorIds: Sql;
  productIds: Sql;
  codes: Sql;
  /** The vendors and `*` (ANY_VENDOR), for tier rates. */
  tierVendorIds: Sql;
  /** A text expression (NULL when the order has no buyer). */
  buyer: Sql;
}
type Sql = RawBuilder<unknown>;

/**
 * The context's columns, one sub-select each, over `p`: the single statement below passes values, the
 * batch (claim-with-contexts.ts) passes the columns of its event rows, so both read the same way.
 * The buyer's referrer is a lateral lookup (OFFSET 0: never flattened into a join): as a LEFT JOIN,
 * the generic plan merge-joined it with the whole of `members` in key order, reading every member up to
 * the referrer's id for a returning buyer (hot-plans.test.ts, the unanchored index scan).
 */
export function checkoutContextColumns(p: ContextParams): Sql {
  return sql`
      (SELECT json_build_object('order_reference', o.order_reference, 'request_hash', o.request_hash)
         FROM orders o WHERE o.order_reference = ${p.orderReference}) AS existing,
      (SELECT coalesce(json_agg(json_build_object('vendor_id', v.vendor_id,
                'referral_commission_bps', v.referral_commission_bps,
                'platform_fee_bps', v.platform_fee_bps, 'hold_days', v.hold_days)), '[]')
         FROM vendors v WHERE v.vendor_id = ANY(${p.vendorIds})) AS vendors,
      (SELECT coalesce(json_agg(json_build_object('product_id', p.product_id, 'vendor_id', p.vendor_id,
                'referral_commission_bps', p.referral_commission_bps)), '[]')
         FROM products p WHERE p.product_id = ANY(${p.productIds})) AS products,
      (SELECT json_build_object('member_id', b.member_id, 'wallet_address', b.wallet_address,
                'referred_by_member_id', b.referred_by_member_id, 'referred_by_code', b.referred_by_code,
                'attributed_at', b.attributed_at, 'referred_by_wallet', r.wallet_address,
                'referred_by_display_name', r.display_name)
         FROM members b LEFT JOIN LATERAL (
           SELECT r.wallet_address, r.display_name FROM members r WHERE r.member_id = b.referred_by_member_id
           OFFSET 0) r ON true
         WHERE b.member_id = ${p.buyer}) AS buyer,
      (SELECT coalesce(json_agg(json_build_object('code', c.code, 'owner_member_id', c.owner_member_id,
                'active', c.active,
                'wallet_address', (SELECT m.wallet_address FROM members m WHERE m.member_id = c.owner_member_id),
                'display_name', (SELECT m.display_name FROM members m WHERE m.member_id = c.owner_member_id))), '[]')
         FROM referral_codes c
         WHERE c.code = ANY(${p.codes})) AS codes,
      (SELECT count(*)::int FROM orders o
         WHERE ${p.buyer} IS NOT NULL AND o.buyer_member_id = ${p.buyer} AND o.status <> 'created')
        AS buyer_paid_orders,
      (SELECT coalesce(json_agg(json_build_object('code', k.code, 'owner_member_id', k.owner_member_id,
                'wallet_address', (SELECT m.wallet_address FROM members m WHERE m.member_id = k.owner_member_id),
                'display_name', (SELECT m.display_name FROM members m WHERE m.member_id = k.owner_member_id),
                'active', k.active, 'expires_at', k.expires_at, 'max_redemptions', k.max_redemptions,
                'redemptions', k.redemptions, 'currency', k.currency)), '[]')
         FROM coupons k
         WHERE k.code = ANY(${p.codes})) AS coupons,
      (SELECT coalesce(json_agg(json_build_object('member_id', t.member_id, 'vendor_id', t.vendor_id,
                'tier', t.tier)), '[]')
         FROM member_tiers t
         WHERE t.vendor_id = ANY(${p.tierVendorIds})
           AND t.member_id IN (
             SELECT c.owner_member_id FROM referral_codes c WHERE c.code = ANY(${p.codes})
             UNION ALL SELECT k.owner_member_id FROM coupons k WHERE k.code = ANY(${p.codes})
             UNION ALL SELECT b.referred_by_member_id FROM members b WHERE b.member_id = ${p.buyer})) AS member_tiers,
      (SELECT coalesce(json_agg(json_build_object('tier', r.tier, 'vendor_id', r.vendor_id,
                'commission_bps', r.commission_bps)), '[]')
         FROM commission_tiers r WHERE r.vendor_id = ANY(${p.tierVendorIds}))
        AS tier_rates`;
}

/** What one checkout reads by: the input's ids, and its raw codes normalized (raw → code, or null). */
export interface ContextInput {
  orderReference: string;
  vendorIds: string[];
  productIds: string[];
  buyerMemberId: string | null;
  codes: Array<string | null | undefined>;
}

/** The raw codes normalized (raw → code, or null when malformed), and the distinct valid codes. */
export function normalizeCodes(raws: ContextInput["codes"]): {
  normalized: Map<string, string | null>;
  codes: string[];
} {
  const normalized = new Map<string, string | null>();
  for (const raw of raws) {
    if (raw === null || raw === undefined || raw === "") continue;
    const result = normalizeCode(raw);
    normalized.set(raw, result.ok ? result.code : null);
  }
  const codes = [...new Set([...normalized.values()].filter((code): code is string => code !== null))];
  return { normalized, codes };
}

/**
 * One statement: the existing order's request hash, the vendors and products of the lines, the buyer
 * with its durable referrer, every code checkout was given (normalized) with its owner, and how many
 * paid orders the buyer has; the coupon named (if any) with its owner, and the commission tiers of
 * every candidate referrer with the tier rates of the order's vendors. Nothing is locked: checkout only inserts, and the unique keys decide races.
 *
 * Owners are read by correlated lookups on `members`' primary key, not by a join: a join let the
 * planner hash all of `members` on each checkout when the table had no statistics yet (autovacuum off,
 * or a young table), a scan that grows with every member (test/integration/hot-plans.test.ts).
 * Lists are matched with `= ANY(ARRAY(SELECT unnest($n::text[])))`, not `= ANY($n::text[])`: with
 * the array's length visible, each custom plan looked cheaper than the generic one and the statement
 * was planned again on every event (0.59 ms of planning against 0.10 ms of execution, pg_stat_statements
 * in the ingest benchmark); behind a subquery the length is unknown to both, the server keeps the
 * generic plan after five executions, and planning fell to 0.03 ms.
 */
export async function readCheckoutContext(trx: DbOrTx, input: ContextInput): Promise<CheckoutContext> {
  const { normalized, codes } = normalizeCodes(input.codes);
  const list = (values: string[]) => sql`ARRAY(SELECT unnest(${values}::text[]))`;
  const result = await sql<ContextRow>`${prepared("read-checkout-context")}
    SELECT ${checkoutContextColumns({
      orderReference: sql`${input.orderReference}`,
      vendorIds: list(input.vendorIds),
      productIds: list(input.productIds),
      codes: list(codes),
      tierVendorIds: list([...input.vendorIds, ANY_VENDOR]),
      buyer: sql`${input.buyerMemberId}::text`,
    })}`.execute(trx);
  return toCheckoutContext(result.rows[0]!, normalized);
}

/** A context row as the statement answers it, as the checkout decides from it. */
export function toCheckoutContext(row: ContextRow, normalized: Map<string, string | null>): CheckoutContext {
  const byCode = new Map(row.codes.map((code) => [code.code, code]));
  const couponByCode = new Map(row.coupons.map((coupon) => [coupon.code, coupon]));
  return {
    existing: row.existing,
    vendors: row.vendors,
    products: row.products,
    buyer: row.buyer
      ? { ...row.buyer, attributed_at: row.buyer.attributed_at ? new Date(row.buyer.attributed_at) : null }
      : null,
    buyerPaidOrders: Number(row.buyer_paid_orders),
    memberTiers: row.member_tiers,
    tierRates: row.tier_rates,
    coupon(raw) {
      if (raw === null || raw === undefined || raw === "") return null;
      const code = normalized.get(raw);
      const found = code ? couponByCode.get(code) : undefined;
      if (!found) return "unknown";
      return {
        code: found.code,
        ownerMemberId: found.owner_member_id,
        ownerWallet: found.wallet_address,
        active: found.active,
        expiresAt: found.expires_at ? new Date(found.expires_at) : null,
        maxRedemptions: found.max_redemptions,
        redemptions: Number(found.redemptions),
        currency: found.currency,
      };
    },
    resolve(raw) {
      if (raw === null || raw === undefined || raw === "") return null;
      const code = normalized.get(raw);
      const found = code ? byCode.get(code) : undefined;
      if (!found) return "unknown";
      return {
        code: found.code,
        ownerMemberId: found.owner_member_id,
        ownerWallet: found.wallet_address,
        active: found.active,
      };
    },
    codeOwnerName(code) {
      return byCode.get(code)?.display_name ?? couponByCode.get(code)?.display_name;
    },
  };
}
