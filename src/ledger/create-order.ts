import { ipHash } from "../attribution/ip-hash.js";
import type { Config } from "../config.js";
import type { Db, DbOrTx } from "../db/connect.js";
import { inTransaction } from "../db/transaction.js";
import { decideCheckoutAttribution, type ResolvedReferralCode } from "../domain/attribution.js";
import { resolveCommissionBps } from "../domain/rates.js";
import { computeOrderSettlement } from "../domain/settlement.js";
import { AppError } from "../errors.js";
import { hashJson } from "../lib/crypto.js";
import { type Actor, auditRow } from "./audit.js";
import { insertOrder } from "./statements/insert-order.js";
import { readCheckoutContext } from "./statements/read-checkout-context.js";

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
  referrer: { displayName: string | null } | null;
  reason?: string;
  lines: Array<{ lineId: string; commissionBps: number; rateSource: string }>;
  totals: { gross: string; referralCommission: string };
}

type RateConfig = Pick<
  Config,
  | "REFERRAL_COMMISSION_BPS"
  | "REFERRAL_COMMISSION_MAX_BPS"
  | "TOKEN_WEI_PER_MINOR_UNIT"
  | "ATTRIBUTION_WINDOW_DAYS"
  | "ATTRIBUTION_SCOPE"
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
  const now = options.now ?? new Date();
  // The address is context, not terms: a retry from another address is still the same order.
  const { clientIp: _clientIp, ...terms } = input as CreateOrderInput & { clientIp?: unknown };
  const requestHash = hashJson(terms);
  const buyerIpHash =
    options.clientIp && config.secrets ? ipHash(config.secrets.ipHash, options.clientIp) : null;

  const weiPerMinorUnit = config.TOKEN_WEI_PER_MINOR_UNIT[input.currency];
  const vendorIds = [...new Set(input.lines.map((line) => line.vendorId))];
  const productIds = [...new Set(input.lines.flatMap((line) => (line.productId ? [line.productId] : [])))];
  const explicitRaw = input.refCode ?? input.clickId ?? null;
  // Statement 1: everything checkout decides from, read once.
  const context = await readCheckoutContext(trx, {
    orderReference: input.orderReference,
    vendorIds,
    productIds,
    buyerMemberId: input.buyerMemberId ?? null,
    codes: [explicitRaw, options.cookieCode ?? null],
  });
  if (context.existing) return existingOrder(trx, context.existing, requestHash);

  if (weiPerMinorUnit === undefined) {
    throw new AppError(
      "validation_failed",
      `no TOKEN_WEI_PER_MINOR_UNIT configured for currency ${input.currency}`,
      {
        details: { field: "currency" },
      },
    );
  }

  // Rates: product override → vendor → platform default, clamped; snapshotted per line.
  const vendorById = new Map(context.vendors.map((vendor) => [vendor.vendor_id, vendor]));
  const productById = new Map(context.products.map((product) => [product.product_id, product]));
  const missing = vendorIds.filter((id) => !vendorById.has(id));
  if (missing.length > 0) {
    throw new AppError(
      "unprocessable",
      `unknown vendor ${missing.join(", ")}: PUT /v1/vendors/:vendorId first`,
      {
        details: { vendorIds: missing },
      },
    );
  }
  const lines = input.lines.map((line) => {
    const product = line.productId ? productById.get(line.productId) : undefined;
    if (product && product.vendor_id !== line.vendorId) {
      throw new AppError(
        "unprocessable",
        `product ${product.product_id} belongs to vendor ${product.vendor_id}, not ${line.vendorId}`,
      );
    }
    const rate = resolveCommissionBps({
      productBps: product?.referral_commission_bps,
      vendorBps: vendorById.get(line.vendorId)?.referral_commission_bps,
      platformDefaultBps: config.REFERRAL_COMMISSION_BPS,
      maxBps: config.REFERRAL_COMMISSION_MAX_BPS,
    });
    return {
      lineId: line.lineId,
      vendorId: line.vendorId,
      productId: line.productId ?? null,
      quantity: line.quantity,
      unitAmount: line.unitAmount,
      commissionBps: rate.bps,
      rateSource: rate.source,
    };
  });

  // Attribution: the buyer's durable referredBy → explicit code → first-touch cookie.
  const buyer = context.buyer;
  const known = (code: ResolvedReferralCode | "unknown" | null) => (code === "unknown" ? null : code);
  const explicitCode = context.resolve(explicitRaw);
  const cookieCode = known(context.resolve(options.cookieCode));
  const decided = decideCheckoutAttribution({
    buyer: {
      memberId: buyer?.member_id ?? input.buyerMemberId ?? `guest:${input.orderReference}`,
      wallet: buyer?.wallet_address ?? null,
      referredByMemberId: buyer?.referred_by_member_id ?? null,
      referredByCode: buyer?.referred_by_code ?? null,
      attributedAt: buyer?.attributed_at ?? null,
      referredByWallet: buyer?.referred_by_wallet ?? null,
    },
    // An unknown explicit code does not hide a valid first-touch cookie; it only names the reason.
    explicitCode: known(explicitCode),
    cookieCode,
    now,
    windowDays: config.ATTRIBUTION_WINDOW_DAYS,
    scope: config.ATTRIBUTION_SCOPE,
    buyerPaidOrders: context.buyerPaidOrders,
  });
  const decision =
    !decided.applied && decided.reason === "no_referral" && explicitCode === "unknown"
      ? ({ applied: false, reason: "unknown_code" } as const)
      : decided;

  const settlement = computeOrderSettlement({
    lines,
    vendors: context.vendors.map((vendor) => ({
      vendorId: vendor.vendor_id,
      platformFeeBps: vendor.platform_fee_bps,
    })),
    shippingAmount: input.shippingAmount,
    discountAmount: input.discountAmount,
    referral: decision.applied,
  });
  const merchandise = settlement.vendors.reduce((sum, vendor) => sum + vendor.merchandise, 0n);

  // Keep the caller's line order for positions.
  const positionOf = new Map(input.lines.map((line, index) => [line.lineId, index]));
  const vendorFee = new Map(context.vendors.map((vendor) => [vendor.vendor_id, vendor.platform_fee_bps]));
  const lineRows = settlement.vendors.flatMap((vendor) =>
    vendor.lines.map((line) => ({
      order_reference: input.orderReference,
      line_id: line.lineId,
      position: positionOf.get(line.lineId) ?? 0,
      vendor_id: vendor.vendorId,
      product_id: line.productId,
      quantity: line.quantity,
      unit_amount: line.unitAmount.toString(),
      subtotal: line.subtotal.toString(),
      discount: line.discount.toString(),
      commission_base: line.commissionBase.toString(),
      commission_bps: line.commissionBps,
      rate_source: line.rateSource,
      platform_fee_bps: vendorFee.get(vendor.vendorId) ?? 0,
      referral_commission: line.referralCommission.toString(),
    })),
  );
  // First touch holds everywhere: an attribution made here (code or cookie) becomes the buyer's
  // durable referredBy, so a later order cannot be credited to someone else.
  const durable =
    decision.applied && decision.source !== "referred_by" && input.buyerMemberId
      ? {
          referrerMemberId: decision.referrerMemberId,
          code: decision.code,
          source:
            decision.source === "cookie"
              ? ("cookie" as const)
              : input.refCode
                ? ("ref_code" as const)
                : ("click_id" as const),
          attributedAt: decision.attributedAt,
        }
      : null;

  // Statement 2: the buyer, the order, its lines and the audit entry, or nothing if another request
  // created the same order first.
  const inserted = await insertOrder(trx, {
    buyer: input.buyerMemberId ? { memberId: input.buyerMemberId, durable } : null,
    order: {
      order_reference: input.orderReference,
      request_hash: requestHash,
      buyer_member_id: input.buyerMemberId ?? null,
      currency: input.currency,
      referral_applied: decision.applied,
      referrer_member_id: decision.applied ? decision.referrerMemberId : null,
      referral_code: decision.applied ? decision.code : null,
      attribution_source: decision.applied ? decision.source : null,
      attribution_reason: decision.applied ? null : decision.reason,
      merchandise_amount: merchandise.toString(),
      shipping_amount: input.shippingAmount.toString(),
      discount_amount: input.discountAmount.toString(),
      gross_amount: settlement.orderGross.toString(),
      referral_commission: settlement.referralCommission.toString(),
      wei_per_minor_unit: weiPerMinorUnit.toString(),
      buyer_ip_hash: buyerIpHash,
    },
    lines: lineRows,
    audit: [
      auditRow(actor, "order.created", { type: "order", id: input.orderReference }, null, {
        referralApplied: decision.applied,
        referralCode: decision.applied ? decision.code : null,
        gross: settlement.orderGross,
        referralCommission: settlement.referralCommission,
      }),
      ...(durable
        ? [
            auditRow(actor, "member.attributed", { type: "member", id: input.buyerMemberId! }, null, {
              code: durable.code,
              memberId: durable.referrerMemberId,
              source: durable.source,
              attributedAt: durable.attributedAt.toISOString(),
              orderReference: input.orderReference,
            }),
          ]
        : []),
    ],
  });
  if (!inserted) {
    // Lost a race with an identical (or conflicting) request: answer as a repeat would.
    const row = await trx
      .selectFrom("orders")
      .select(["order_reference", "request_hash"])
      .where("order_reference", "=", input.orderReference)
      .executeTakeFirstOrThrow();
    return existingOrder(trx, row, requestHash);
  }

  const referrerName = decision.applied
    ? decision.source === "referred_by"
      ? (buyer?.referred_by_display_name ?? null)
      : (context.codeOwnerName(decision.code) ?? null)
    : null;
  return {
    created: true,
    orderReference: input.orderReference,
    referralApplied: decision.applied,
    referralCode: decision.applied ? decision.code : null,
    referrer: decision.applied ? { displayName: referrerName } : null,
    ...(!decision.applied && decision.reason !== "no_referral" ? { reason: decision.reason } : {}),
    lines: [...input.lines].map((line) => {
      const snap = lines.find((candidate) => candidate.lineId === line.lineId)!;
      return { lineId: line.lineId, commissionBps: snap.commissionBps, rateSource: snap.rateSource };
    }),
    totals: {
      gross: settlement.orderGross.toString(),
      referralCommission: settlement.referralCommission.toString(),
    },
  };
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
    .select(["line_id", "commission_bps", "rate_source"])
    .where("order_reference", "=", orderReference)
    .orderBy("position")
    .execute();
  return {
    created: false,
    orderReference: order.order_reference,
    referralApplied: order.referral_applied,
    referralCode: order.referral_code,
    referrer: order.referrer_id ? { displayName: order.display_name } : null,
    ...(order.attribution_reason && order.attribution_reason !== "no_referral"
      ? { reason: order.attribution_reason }
      : {}),
    lines: lines.map((line) => ({
      lineId: line.line_id,
      commissionBps: line.commission_bps,
      rateSource: line.rate_source,
    })),
    totals: {
      gross: order.gross_amount.toString(),
      referralCommission: order.referral_commission.toString(),
    },
  };
}
