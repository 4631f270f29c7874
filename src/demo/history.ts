import { randomBytes } from "node:crypto";
import type { Config } from "../config.js";
import type { Db } from "../db/connect.js";
import type { Minter } from "../jobs/minter.js";
import { markSettlementsDue } from "../jobs/settlements.js";
import { SYSTEM } from "../ledger/audit.js";
import { buildPayouts, markPayoutPaid } from "../ledger/build-payouts.js";
import { createOrder } from "../ledger/create-order.js";
import { backdateDemoOrders } from "../ledger/demo-backdate.js";
import { issueCode } from "../ledger/issue-code.js";
import { recordChargeback } from "../ledger/record-chargeback.js";
import { recordOrderPaid } from "../ledger/record-order-paid.js";
import { recordRefund } from "../ledger/record-refund.js";
import { recordWebhook, type WebhookOutcome } from "../ledger/record-webhook.js";
import { registerMember } from "../ledger/register-member.js";
import { reviewRewards } from "../ledger/review-rewards.js";
import { upsertProduct, upsertVendor } from "../ledger/upsert-catalog.js";
import { VisitBuffer } from "../ledger/visit-buffer.js";
import { hashJson } from "../lib/crypto.js";
import { DEMO_REFERRER } from "./seed.js";

/**
 * A lived-in demo (DEMO=1): 30 days of history written through the ledger's own use cases, in the order
 * they would have happened — referral visits with a weekly shape and growth (the visit buffer), signups
 * through the referrers' codes (registerMember), checkouts over three vendors (createOrder), payments,
 * refunds and chargebacks as signed webhooks would record them (recordWebhook + recordOrderPaid /
 * recordRefund / recordChargeback), reviews (reviewRewards), one mint batch on the embedded chain
 * (the minter), settlements falling due and a paid payout (buildPayouts, markPayoutPaid). Every
 * reward status the pages show appears: pending_approval, approved, minted, rejected, cancelled, held.
 * The rows are then dated back to their day (ledger/demo-backdate.ts). Deterministic (seeded PRNG).
 */
export interface HistoryResult {
  days: number;
  visits: number;
  signups: number;
  orders: number;
  paid: number;
  refunds: number;
  chargebacks: number;
  mintedRewards: number;
  payouts: number;
  ms: number;
}

const DAY = 86_400_000;
const REFERRERS = [
  { memberId: DEMO_REFERRER.memberId, weight: 1, wallet: undefined },
  {
    memberId: "m_olena",
    displayName: "Olena",
    weight: 0.6,
    wallet: "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
  },
  {
    memberId: "m_taras",
    displayName: "Taras",
    weight: 0.35,
    wallet: "0x90f79bf6eb2c4f870365e785982e1f101e93b906",
  },
] as const;
const PRODUCTS = [
  { vendorId: "v_books", productId: "p_novel", price: 25_000n },
  { vendorId: "v_books", productId: "p_atlas", price: 40_000n },
  { vendorId: "v_games", productId: "p_chess", price: 120_000n },
  { vendorId: "v_tea", productId: "p_sencha", price: 18_000n },
  { vendorId: "v_tea", productId: "p_puer", price: 32_000n },
] as const;

/** mulberry32: the same history on every boot. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export async function seedDemoHistory(
  services: { db: Db; config: Readonly<Config>; minter: Pick<Minter, "runOnce"> },
  options: { days?: number; now?: Date } = {},
): Promise<HistoryResult> {
  const started = Date.now();
  const { db, config } = services;
  const days = options.days ?? 30;
  const now = options.now ?? new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const random = prng(13);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const result: HistoryResult = {
    days,
    visits: 0,
    signups: 0,
    orders: 0,
    paid: 0,
    refunds: 0,
    chargebacks: 0,
    mintedRewards: 0,
    payouts: 0,
    ms: 0,
  };

  await upsertVendor(db, SYSTEM, {
    vendorId: "v_tea",
    name: "Tea House",
    referralCommissionBps: 600,
    platformFeeBps: 900,
    holdDays: 3,
  });
  await upsertProduct(db, SYSTEM, { productId: "p_sencha", vendorId: "v_tea", referralCommissionBps: null });
  await upsertProduct(db, SYSTEM, { productId: "p_puer", vendorId: "v_tea", referralCommissionBps: 900 });
  const codes = new Map<string, string>();
  for (const referrer of REFERRERS) {
    if (referrer.memberId !== DEMO_REFERRER.memberId) {
      await registerMember(
        db,
        SYSTEM,
        { memberId: referrer.memberId, displayName: referrer.displayName, walletAddress: referrer.wallet },
        new Date(today - days * DAY),
      );
    }
    codes.set(referrer.memberId, (await issueCode(db, SYSTEM, referrer.memberId)).code);
  }

  const visits = new VisitBuffer(db, { intervalMs: 60_000, maxPending: Number.MAX_SAFE_INTEGER });
  const buyers: Array<{ memberId: string; referrer: string; day: number }> = [];
  const orders: Array<{
    orderReference: string;
    at: Date;
    referrer: string;
    gross: bigint;
    paid: boolean;
    day: number;
  }> = [];
  const webhook = (
    eventId: string,
    eventType: string,
    body: unknown,
    handle: Parameters<typeof recordWebhook>[2],
  ): Promise<WebhookOutcome> =>
    recordWebhook(db, { provider: "payments", eventId, eventType, payloadHash: hashJson(body) }, handle);

  for (let ago = days - 1; ago >= 0; ago--) {
    const dayStart = today - ago * DAY;
    const day = new Date(dayStart).toISOString().slice(0, 10);
    const weekday = new Date(dayStart).getUTCDay();
    // A weekly shape (busier weekends, a Monday dip) on a month of growth, with some noise.
    const shape = [1.35, 0.8, 0.9, 1, 1.05, 1.15, 1.45][weekday] as number;
    const growth = 0.55 + (0.45 * (days - ago)) / days;
    for (const referrer of REFERRERS) {
      const code = codes.get(referrer.memberId) as string;
      const n = Math.round(60 * referrer.weight * shape * growth * (0.85 + 0.3 * random()));
      for (let i = 0; i < n; i++) visits.record(code, day, randomBytes(16).toString("hex"));
      result.visits += n;
      // About one visitor in twenty-four signs up; a new buyer's first order often follows the same day.
      const signups = Math.round((n / 24) * (0.7 + 0.6 * random()));
      for (let i = 0; i < signups; i++) {
        const memberId = `m_${referrer.memberId.slice(2)}_${day.replaceAll("-", "")}_${i}`;
        const at = new Date(dayStart + (8 + 12 * random()) * 3_600_000);
        await registerMember(
          db,
          SYSTEM,
          { memberId, displayName: `Buyer ${result.signups + 1}`, refCode: code },
          at,
        );
        buyers.push({ memberId, referrer: referrer.memberId, day: ago });
        result.signups++;
      }
    }
    await visits.flush();

    // Most of the day's new buyers order (their first, rewarded order); a few earlier buyers come back.
    const fresh = buyers.filter((b) => b.day === ago);
    const todays = [
      ...fresh.filter(() => random() < 0.7),
      ...buyers.filter((b) => b.day !== ago && random() < 0.02),
    ].slice(0, 6);
    if (todays.length === 0 && fresh[0]) todays.push(fresh[0]);
    for (const [i, buyer] of todays.entries()) {
      const orderReference = `ord_h_${day.replaceAll("-", "")}_${i}`;
      const at = new Date(Math.min(dayStart + (9 + 13 * random()) * 3_600_000, now.getTime() - 60_000));
      const first = pick(PRODUCTS);
      const second = pick(PRODUCTS);
      const lines = [
        {
          lineId: "l1",
          vendorId: first.vendorId,
          productId: first.productId,
          quantity: 1 + Math.floor(random() * 2),
          unitAmount: first.price,
        },
      ];
      if (second.productId !== first.productId && random() < 0.5)
        lines.push({
          lineId: "l2",
          vendorId: second.vendorId,
          productId: second.productId,
          quantity: 1,
          unitAmount: second.price,
        });
      const order = await createOrder(
        db,
        config,
        SYSTEM,
        {
          orderReference,
          buyerMemberId: buyer.memberId,
          currency: "UAH",
          lines,
          shippingAmount: 0n,
          discountAmount: 0n,
        },
        { now: at },
      );
      result.orders++;
      const gross = BigInt(order.totals.gross);
      // Most orders are paid; a few checkouts are abandoned.
      const paid = random() < 0.88;
      if (paid) {
        const data = {
          orderReference,
          amountPaid: gross,
          currency: "UAH",
          paymentRail: pick(["card", "card", "credit"] as const),
          paidAt: at,
        };
        await webhook(`evt_h_${orderReference}`, "order.paid", data, (trx) =>
          recordOrderPaid(trx, config, SYSTEM, data),
        );
        result.paid++;
      }
      orders.push({ orderReference, at, referrer: buyer.referrer, gross, paid, day: ago });
    }
  }
  await visits.close();
  await backdateDemoOrders(db, orders);
  await settleHistory(services, orders, webhook, result);
  result.ms = Date.now() - started;
  return result;
}

type Order = {
  orderReference: string;
  at: Date;
  referrer: string;
  gross: bigint;
  paid: boolean;
  day: number;
};

/** Reviews, a mint batch, refunds before and after it, two disputes, settlements due and payouts. */
async function settleHistory(
  services: { db: Db; config: Readonly<Config>; minter: Pick<Minter, "runOnce"> },
  orders: Order[],
  webhook: (
    eventId: string,
    eventType: string,
    body: unknown,
    handle: Parameters<typeof recordWebhook>[2],
  ) => Promise<WebhookOutcome>,
  result: HistoryResult,
): Promise<void> {
  const { db } = services;
  // Under ATTRIBUTION_SCOPE=first_order only a buyer's first paid order earns a reward: the story's
  // refunds, disputes and reviews pick among those.
  const rewarded = new Set(
    (await db.selectFrom("referral_rewards").select("order_reference").execute()).map(
      (r) => r.order_reference,
    ),
  );
  const paid = orders.filter((o) => o.paid && rewarded.has(o.orderReference));
  const refund = (order: Order, amount: bigint, id: string) => {
    const data = {
      orderReference: order.orderReference,
      refundId: id,
      amountRefunded: amount,
      refundedAt: new Date(),
    };
    result.refunds++;
    return webhook(`evt_h_${id}`, "order.refunded", data, (trx) => recordRefund(trx, SYSTEM, data));
  };
  const rewardIds = async (filter: (o: Order) => boolean) => {
    const refs = paid.filter(filter).map((o) => o.orderReference);
    if (refs.length === 0) return [];
    const rows = await db
      .selectFrom("referral_rewards")
      .select("id")
      .where("order_reference", "in", refs)
      .where("status", "=", "pending_approval")
      .execute();
    return rows.map((r) => BigInt(r.id));
  };
  // Before the mint: a full refund cancels a recent reward, a partial one reduces an older one.
  const recent = paid.filter((o) => o.day <= 5);
  if (recent[0]) await refund(recent[0], recent[0].gross, `rf_${recent[0].orderReference}`);
  const older = paid.filter((o) => o.day >= 12);
  if (older[1]) await refund(older[1], older[1].gross / 3n, `rf_${older[1].orderReference}`);
  // A dispute still open holds its reward; a lost one acts as a full refund.
  const disputed = recent.find((o) => o.referrer === DEMO_REFERRER.memberId && o !== recent[0]);
  if (disputed) {
    const data = {
      orderReference: disputed.orderReference,
      disputeId: `dp_${disputed.orderReference}`,
      status: "opened" as const,
      amount: disputed.gross,
    };
    await webhook(`evt_h_dp_${disputed.orderReference}`, "order.chargeback", data, (trx) =>
      recordChargeback(trx, SYSTEM, data),
    );
    result.chargebacks++;
  }
  const lost = paid.find((o) => o.day >= 8 && o.day <= 10);
  if (lost) {
    for (const status of ["opened", "lost"] as const) {
      const data = {
        orderReference: lost.orderReference,
        disputeId: `dp_${lost.orderReference}`,
        status,
        amount: lost.gross,
      };
      await webhook(`evt_h_dp_${status}_${lost.orderReference}`, "order.chargeback", data, (trx) =>
        recordChargeback(trx, SYSTEM, data),
      );
    }
    result.chargebacks++;
  }
  // Reviews: two rejected, everything older than a week approved and minted in one batch.
  const rejected = (await rewardIds((o) => o.day >= 14)).slice(0, 2);
  await reviewRewards(db, SYSTEM, {
    ids: rejected,
    decision: "rejected",
    note: "demo: self-referral suspected",
  });
  const toMint = await rewardIds((o) => o.day >= 7);
  await reviewRewards(db, SYSTEM, { ids: toMint, decision: "approved", note: "demo review" });
  // Batches are capped in size: run until the approved queue is empty (bounded).
  for (let i = 0; i < 10; i++) {
    const batch = await services.minter.runOnce({ manual: true });
    result.mintedRewards += batch.minted;
    if (batch.status !== "confirmed") break;
  }
  // After the mint: a refund becomes clawback debt; Olena's reviewed rewards of the last week wait for the next batch.
  const minted = paid.find((o) => o.day >= 7 && o.day <= 9 && o !== lost);
  if (minted) await refund(minted, minted.gross / 4n, `rf_${minted.orderReference}`);
  await reviewRewards(db, SYSTEM, {
    ids: await rewardIds((o) => o.day >= 3 && o.referrer === "m_olena"),
    decision: "approved",
    note: "demo review",
  });
  // Settlements past their hold fall due; the bookshop is paid out, the tea house's payout is open.
  await markSettlementsDue(db);
  const run = await buildPayouts(db, SYSTEM);
  result.payouts = run.payouts.length;
  const books = run.payouts.find((p) => p.vendorId === "v_books");
  if (books) await markPayoutPaid(db, SYSTEM, BigInt(books.payoutId));
}
