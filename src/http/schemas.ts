import { z } from "zod";
import {
  COUPON_STATUSES,
  HOLD_REASONS,
  MINT_BATCH_STATUSES,
  PAYMENT_RAILS,
  RATE_SOURCES,
  REWARD_STATUSES,
  SETTLEMENT_STATUSES,
} from "../domain/enums.js";
import { named } from "./route.js";

/**
 * Response views that more than one surface answers with. A view used by one route is declared beside
 * that route. Amounts and ids are decimal strings; the pages' types are generated from these
 * (src/web/lib/api.generated.ts).
 */

/** A decimal string of integer minor units or wei (`"12500"`). */
export const decimalString = z.string().regex(/^-?[0-9]+$/);
/** An ISO 8601 timestamp in UTC (`toISOString()`). */
export const isoTime = z.string();

export const fraudSignalView = named("FraudSignal", z.object({ code: z.string(), detail: z.string() }));

export const rewardView = named(
  "RewardView",
  z.object({
    id: z.string(),
    orderReference: z.string(),
    referrer: z.object({
      memberId: z.string(),
      displayName: z.string().nullable(),
      wallet: z.string().nullable(),
    }),
    buyerMemberId: z.string().nullable(),
    currency: z.string(),
    fiatBasis: decimalString,
    amountWei: decimalString,
    paymentRail: z.enum(PAYMENT_RAILS),
    status: z.enum(REWARD_STATUSES),
    holdReason: z.enum(HOLD_REASONS).nullable().optional(),
    fraudSignals: z.array(fraudSignalView),
    approvedBy: z.string().nullable(),
    batchId: z.string().nullable(),
    txHash: z.string().nullable(),
    blockNumber: z.string().nullable(),
    failureReason: z.string().nullable(),
    createdAt: isoTime,
    ageSeconds: z.int(),
  }),
  "A token reward (rail B)",
);

export const settlementLineView = named(
  "SettlementLine",
  z.object({
    lineId: z.string(),
    productId: z.string().nullable(),
    quantity: z.int(),
    unitAmount: decimalString,
    subtotal: decimalString,
    discount: decimalString,
    commissionBase: decimalString,
    commissionBps: z.int(),
    rateSource: z.enum(RATE_SOURCES),
    referralCommission: decimalString,
  }),
);

export const settlementStatus = z.enum(SETTLEMENT_STATUSES);

export const mintBatchStatus = z.enum(MINT_BATCH_STATUSES);

export const mintRunResult = named(
  "MintResult",
  z.object({
    batchId: z.string().nullable(),
    status: z.enum(["empty", "busy", "waiting", "confirmed", "released", "failed"]),
    rewardIds: z.array(z.string()),
    txHash: z.string().nullable(),
    minted: z.int(),
    skipped: z.int(),
    failed: z.int(),
    deferred: z.int().optional(),
    waitingForPeriod: z.int().optional(),
    error: z.string().optional(),
  }),
  "One minter run",
);

export const orderResultView = named(
  "OrderResult",
  z.object({
    orderReference: z.string(),
    referralApplied: z.boolean(),
    referralCode: z.string().nullable(),
    attributionSource: z.enum(["coupon", "referred_by", "cookie", "code"]).nullable(),
    coupon: z.object({ code: z.string().nullable(), status: z.enum(COUPON_STATUSES) }).nullable(),
    referrer: z.object({ displayName: z.string().nullable() }).nullable(),
    reason: z.string().optional(),
    lines: z.array(
      z.object({
        lineId: z.string(),
        commissionBps: z.int(),
        rateSource: z.enum(RATE_SOURCES),
        /** The tier that set the rate (`rateSource: "tier"` only). */
        rateTier: z.string().optional(),
      }),
    ),
    totals: z.object({ gross: decimalString, referralCommission: decimalString }),
  }),
  "An order's attribution and snapshotted rates",
);

export const webhookResult = named(
  "WebhookResult",
  z
    .object({
      received: z.literal(true),
      result: z.enum(["recorded", "duplicate", "ignored"]),
      reason: z.string().optional(),
    })
    .catchall(z.unknown()),
  "What a payment event did (further fields depend on the event type)",
);

/** A keyset page: `nextCursor` is the last id, or null on the last page. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
