import { ipHash } from "../attribution/ip-hash.js";
import type { Config } from "../config.js";
import type { Db, DbOrTx } from "../db/connect.js";
import { inTransaction } from "../db/transaction.js";
import type { CouponStatus } from "../domain/enums.js";
import { AppError } from "../errors.js";
import { hashJson } from "../lib/crypto.js";
import type { Actor } from "./audit.js";
import { orderRows, settle } from "./checkout-rows.js";
import { attributionSourceView, decideCheckoutTerms } from "./checkout-terms.js";
import { undoRedemption } from "./coupons.js";
import { insertOrder } from "./statements/insert-order.js";
import { type CheckoutContext, readCheckoutContext } from "./statements/read-checkout-context.js";

export interface OrderLineBody {
  lineId: string;
  vendorId: string;
  productId?: string | null;
  quantity: number;
  unitAmount: bigint;
}

export interface CreateOrderInput {
  orderReference: string;
  buyerMemberId?: string | null;
  refCode?: string | null;
  clickId?: string | null;
  /** A coupon the buyer typed (issue 14): see domain/coupons.ts. */
  couponCode?: string | null;
  currency: string;
  lines: OrderLineBody[];
  shippingAmount: bigint;
  discountAmount: bigint;
}

export interface CreateOrderResult {
  created: boolean;
  orderReference: string;
  referralApplied: boolean;
  referralCode: string | null;
  attributionSource: "coupon" | "referred_by" | "cookie" | "code" | null;
  coupon: { code: string | null; status: CouponStatus } | null;
  referrer: { displayName: string | null } | null;
  reason?: string;
  lines: Array<{ lineId: string; commissionBps: number; rateSource: string; rateTier?: string }>;
  totals: { gross: string; referralCommission: string };
}

type RateConfig = Pick<
  Config,
  | "REFERRAL_COMMISSION_BPS"
  | "REFERRAL_COMMISSION_MAX_BPS"
  | "TOKEN_WEI_PER_MINOR_UNIT"
  | "ATTRIBUTION_WINDOW_DAYS"
  | "ATTRIBUTION_SCOPE"
  | "COUPON_PRECEDENCE"
> & { secrets?: Pick<Config["secrets"], "ipHash"> };

/** Checkout context that is not part of the order's terms (and so not of its request hash). */
export interface CreateOrderOptions {
  cookieCode?: string | null;
  /** The buyer's address as the host saw it; stored only as a keyed hash, for fraud signals. */
  clientIp?: string | null;
  now?: Date;
}

/**
 * Checkout: decides attribution and snapshots every rate the order will be paid with (commission bps
 * and source per line, platform fee per vendor, token conversion). The same body again returns the
 * same result; a different body for the same `orderReference` is a 409.
 */
export async function createOrder(
  db: Db,
  config: RateConfig,
  actor: Actor,
  input: CreateOrderInput,
  options: CreateOrderOptions = {},
): Promise<CreateOrderResult> {
  return inTransaction(db, (trx) => createOrderInTx(trx, config, actor, input, options), {
    name: "checkout",
  });
}

/** The body of `createOrder`, for callers that already hold a transaction (the `order.paid` webhook). */
export async function createOrderInTx(
  trx: DbOrTx,
  config: RateConfig,
  actor: Actor,
  input: CreateOrderInput,
  options: CreateOrderOptions = {},
): Promise<CreateOrderResult> {
  const inputs = checkoutInputs(config, input, options);
  // Statement 1: everything checkout decides from, read once.
  const context = await readCheckoutContext(trx, inputs.context);
  if (context.existing) return existingOrder(trx, context.existing, inputs.requestHash);
  const plan = planCheckout(config, actor, input, options, inputs, context);
  const { termsInput, rowContext } = plan;
  let { decided } = plan;
  // Statement 2: the coupon's redemption, the buyer, the order, its lines and the audit entry, or
  // nothing if another request created the same order first (or the coupon ran out since statement 1).
  let inserted = await insertOrder(trx, plan.rows);
  if (inserted.couponRefused) {
    // Redeemed up to its limit (or deactivated) by others since statement 1: decided again without it.
    decided = decideCheckoutTerms(context, config, termsInput, inputs.now, true);
    inserted = await insertOrder(
      trx,
      orderRows(input, decided, context, { ...rowContext, couponRetried: true }),
    );
  }
  if (!inserted.inserted) {
    // Lost a race with an identical (or conflicting) request: answer as a repeat would.
    if (inserted.redeemed && decided.coupon?.code) await undoRedemption(trx, decided.coupon.code);
    const row = await trx
      .selectFrom("orders")
      .select(["order_reference", "request_hash"])
      .where("order_reference", "=", input.orderReference)
      .executeTakeFirstOrThrow();
    return existingOrder(trx, row, inputs.requestHash);
  }
  const { decision } = decided;
  const settlement = settle(input, decided, context);
  const referrerName = decision.applied
    ? decision.source === "referred_by"
      ? (context.buyer?.referred_by_display_name ?? null)
      : (context.codeOwnerName(decision.code) ?? null)
    : null;
  return {
    created: true,
    orderReference: input.orderReference,
    referralApplied: decision.applied,
    referralCode: decision.applied ? decision.code : null,
    attributionSource: decision.applied ? attributionSourceView(decision.source) : null,
    coupon: decided.coupon,
    referrer: decision.applied ? { displayName: referrerName } : null,
    ...(!decision.applied && decision.reason !== "no_referral" ? { reason: decision.reason } : {}),
    lines: decided.lines.map((line) => ({
      lineId: line.lineId,
      commissionBps: line.commissionBps,
      rateSource: line.rateSource,
      ...(line.rateTier ? { rateTier: line.rateTier } : {}),
    })),
    totals: {
      gross: settlement.orderGross.toString(),
      referralCommission: settlement.referralCommission.toString(),
    },
  };
}

/** What a checkout computes before it reads anything: its request hash and what its context is read by. */
export function checkoutInputs(
  config: RateConfig,
  input: CreateOrderInput,
  options: CreateOrderOptions = {},
) {
  const now = options.now ?? new Date();
  // The address is context, not terms: a retry from another address is still the same order.
  const { clientIp: _clientIp, ...terms } = input as CreateOrderInput & { clientIp?: unknown };
  const vendorIds = [...new Set(input.lines.map((line) => line.vendorId))];
  const productIds = [...new Set(input.lines.flatMap((line) => (line.productId ? [line.productId] : [])))];
  const explicitRaw = input.refCode ?? input.clickId ?? null;
  return {
    now,
    requestHash: hashJson(terms),
    buyerIpHash: options.clientIp && config.secrets ? ipHash(config.secrets.ipHash, options.clientIp) : null,
    vendorIds,
    context: {
      orderReference: input.orderReference,
      vendorIds,
      productIds,
      buyerMemberId: input.buyerMemberId ?? null,
      codes: [explicitRaw, options.cookieCode ?? null, input.couponCode ?? null],
    },
  };
}

/**
 * A new order's terms and rows, decided from its context (the order is not in it): attribution,
 * coupon precedence and the rates snapshotted per line. Pure; throws the checkout's 4xx for an
 * unconfigured currency or an unknown vendor.
 */
export function planCheckout(
  config: RateConfig,
  actor: Actor,
  input: CreateOrderInput,
  options: CreateOrderOptions,
  inputs: ReturnType<typeof checkoutInputs>,
  context: CheckoutContext,
) {
  const weiPerMinorUnit = config.TOKEN_WEI_PER_MINOR_UNIT[input.currency];
  if (weiPerMinorUnit === undefined) {
    throw new AppError(
      "validation_failed",
      `no TOKEN_WEI_PER_MINOR_UNIT configured for currency ${input.currency}`,
      {
        details: { field: "currency" },
      },
    );
  }
  const missing = inputs.vendorIds.filter((id) => !context.vendors.some((vendor) => vendor.vendor_id === id));
  if (missing.length > 0) {
    throw new AppError(
      "unprocessable",
      `unknown vendor ${missing.join(", ")}: PUT /v1/vendors/:vendorId first`,
      {
        details: { vendorIds: missing },
      },
    );
  }
  // Attribution (coupon precedence included) and the rates it implies, snapshotted per line.
  const termsInput = { ...input, cookieCode: options.cookieCode ?? null };
  const decided = decideCheckoutTerms(context, config, termsInput, inputs.now);
  const rowContext = {
    requestHash: inputs.requestHash,
    buyerIpHash: inputs.buyerIpHash,
    weiPerMinorUnit,
    actor,
    now: inputs.now,
  };
  return { termsInput, decided, rowContext, rows: orderRows(input, decided, context, rowContext) };
}

async function existingOrder(
  trx: DbOrTx,
  row: { order_reference: string; request_hash: string },
  requestHash: string,
): Promise<CreateOrderResult> {
  if (row.request_hash !== requestHash) {
    throw new AppError(
      "order_conflict",
      `order ${row.order_reference} already exists with a different body`,
      {
        details: { orderReference: row.order_reference },
      },
    );
  }
  return { ...(await orderResult(trx, row.order_reference)), created: false };
}

/** The checkout answer for a stored order (its snapshotted rates, attribution and totals). */
export async function orderResult(db: DbOrTx, orderReference: string): Promise<CreateOrderResult> {
  const order = await db
    .selectFrom("orders as o")
    .leftJoin("members as r", "r.member_id", "o.referrer_member_id")
    .select([
      "o.order_reference",
      "o.referral_applied",
      "o.referral_code",
      "o.attribution_source",
      "o.coupon_code",
      "o.coupon_status",
      "o.attribution_reason",
      "o.gross_amount",
      "o.referral_commission",
      "r.display_name",
      "r.member_id as referrer_id",
    ])
    .where("o.order_reference", "=", orderReference)
    .executeTakeFirstOrThrow();
  const lines = await db
    .selectFrom("order_lines")
    .select(["line_id", "commission_bps", "rate_source", "rate_tier"])
    .where("order_reference", "=", orderReference)
    .orderBy("position")
    .execute();
  return {
    created: false,
    orderReference: order.order_reference,
    referralApplied: order.referral_applied,
    referralCode: order.referral_code,
    attributionSource: order.referral_applied ? attributionSourceView(order.attribution_source) : null,
    coupon: order.coupon_status ? { code: order.coupon_code, status: order.coupon_status } : null,
    referrer: order.referrer_id ? { displayName: order.display_name } : null,
    ...(order.attribution_reason && order.attribution_reason !== "no_referral"
      ? { reason: order.attribution_reason }
      : {}),
    lines: lines.map((line) => ({
      lineId: line.line_id,
      commissionBps: line.commission_bps,
      rateSource: line.rate_source,
      ...(line.rate_tier ? { rateTier: line.rate_tier } : {}),
    })),
    totals: {
      gross: order.gross_amount.toString(),
      referralCommission: order.referral_commission.toString(),
    },
  };
}
