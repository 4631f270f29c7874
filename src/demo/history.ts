import { randomBytes } from "node:crypto";
import type { Config } from "../config.js";
import type { Db } from "../db/connect.js";
import type { Minter } from "../jobs/minter.js";
import { SYSTEM } from "../ledger/audit.js";
import { createOrder } from "../ledger/create-order.js";
import { backdateDemoOrders } from "../ledger/demo-backdate.js";
import { issueCode } from "../ledger/issue-code.js";
import { recordOrderPaid } from "../ledger/record-order-paid.js";
import { recordWebhook, type WebhookOutcome } from "../ledger/record-webhook.js";
import { registerMember } from "../ledger/register-member.js";
import { upsertProduct, upsertVendor } from "../ledger/upsert-catalog.js";
import { VisitBuffer } from "../ledger/visit-buffer.js";
import { hashJson } from "../lib/crypto.js";
import { mulberry32 } from "../lib/prng.js";
import { settleHistory } from "./history-settle.js";
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
const prng = mulberry32;

/** What one seeding run carries from day to day. */
export interface Story {
  db: Db;
  config: Readonly<Config>;
  now: Date;
  random: () => number;
  result: HistoryResult;
  codes: Map<string, string>;
  visits: VisitBuffer;
  buyers: Array<{ memberId: string; referrer: string; day: number }>;
  orders: StoryOrder[];
  /** One payment-provider event through the same use case the webhook route runs. */
  webhook(eventId: string, eventType: string, body: unknown, handle: WebhookHandler): Promise<WebhookOutcome>;
}
export type StoryOrder = {
  orderReference: string;
  at: Date;
  referrer: string;
  gross: bigint;
  paid: boolean;
  day: number;
};
type WebhookHandler = Parameters<typeof recordWebhook>[2];

export async function seedDemoHistory(
  services: { db: Db; config: Readonly<Config>; minter: Pick<Minter, "runOnce"> },
  options: { days?: number; now?: Date } = {},
): Promise<HistoryResult> {
  const started = Date.now();
  const { db, config } = services;
  const days = options.days ?? 30;
  const now = options.now ?? new Date();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const story: Story = {
    db,
    config,
    now,
    random: prng(13),
    result: {
      days,
      ...{ visits: 0, signups: 0, orders: 0, paid: 0, refunds: 0, chargebacks: 0 },
      ...{ mintedRewards: 0, payouts: 0, ms: 0 },
    },
    codes: new Map(),
    visits: new VisitBuffer(db, { intervalMs: 60_000, maxPending: Number.MAX_SAFE_INTEGER }),
    buyers: [],
    orders: [],
    webhook: (eventId, eventType, body, handle) =>
      recordWebhook(db, { provider: "payments", eventId, eventType, payloadHash: hashJson(body) }, handle),
  };
  await seedCast(story, new Date(today - days * DAY));
  for (let ago = days - 1; ago >= 0; ago--) await seedDay(story, ago, today - ago * DAY, days);
  await story.visits.close();
  await backdateDemoOrders(db, story.orders);
  await settleHistory({ ...services, ...story });
  story.result.ms = Date.now() - started;
  return story.result;
}

/** The third vendor and the two other referrers, a month before today. */
async function seedCast(story: Story, monthAgo: Date): Promise<void> {
  const { db } = story;
  await upsertVendor(db, SYSTEM, {
    vendorId: "v_tea",
    name: "Tea House",
    referralCommissionBps: 600,
    platformFeeBps: 900,
    holdDays: 3,
  });
  await upsertProduct(db, SYSTEM, { productId: "p_sencha", vendorId: "v_tea", referralCommissionBps: null });
  await upsertProduct(db, SYSTEM, { productId: "p_puer", vendorId: "v_tea", referralCommissionBps: 900 });
  for (const referrer of REFERRERS) {
    if (referrer.memberId !== DEMO_REFERRER.memberId) {
      await registerMember(
        db,
        SYSTEM,
        { memberId: referrer.memberId, displayName: referrer.displayName, walletAddress: referrer.wallet },
        monthAgo,
      );
    }
    story.codes.set(referrer.memberId, (await issueCode(db, SYSTEM, referrer.memberId)).code);
  }
}

/** One day: each referrer's visits and signups, then the day's checkouts and payments. */
async function seedDay(story: Story, ago: number, dayStart: number, days: number): Promise<void> {
  const { random, result } = story;
  const day = new Date(dayStart).toISOString().slice(0, 10);
  // A weekly shape (busier weekends, a Monday dip) on a month of growth, with some noise.
  const shape = [1.35, 0.8, 0.9, 1, 1.05, 1.15, 1.45][new Date(dayStart).getUTCDay()] as number;
  const growth = 0.55 + (0.45 * (days - ago)) / days;
  for (const referrer of REFERRERS) {
    await new Promise((resolve) => setImmediate(resolve));
    const code = story.codes.get(referrer.memberId) as string;
    const n = Math.round(60 * referrer.weight * shape * growth * (0.85 + 0.3 * random()));
    for (let i = 0; i < n; i++) story.visits.record(code, day, randomBytes(16).toString("hex"));
    result.visits += n;
    // About one visitor in twenty-four signs up; a new buyer's first order often follows the same day.
    const signups = Math.round((n / 24) * (0.7 + 0.6 * random()));
    for (let i = 0; i < signups; i++) {
      const memberId = `m_${referrer.memberId.slice(2)}_${day.replaceAll("-", "")}_${i}`;
      const at = new Date(dayStart + (8 + 12 * random()) * 3_600_000);
      await registerMember(
        story.db,
        SYSTEM,
        { memberId, displayName: `Buyer ${result.signups + 1}`, refCode: code },
        at,
      );
      story.buyers.push({ memberId, referrer: referrer.memberId, day: ago });
      result.signups++;
    }
  }
  await story.visits.flush();
  // Most of the day's new buyers order (their first, rewarded order); a few earlier buyers come back.
  const fresh = story.buyers.filter((b) => b.day === ago);
  const todays = [
    ...fresh.filter(() => random() < 0.7),
    ...story.buyers.filter((b) => b.day !== ago && random() < 0.02),
  ].slice(0, 6);
  if (todays.length === 0 && fresh[0]) todays.push(fresh[0]);
  for (const [i, buyer] of todays.entries()) {
    const at = new Date(Math.min(dayStart + (9 + 13 * random()) * 3_600_000, story.now.getTime() - 60_000));
    await seedOrder(story, `ord_h_${day.replaceAll("-", "")}_${i}`, buyer, at, ago);
  }
}

/** A checkout of one or two products, paid as a signed order.paid would record it (most of the time). */
async function seedOrder(
  story: Story,
  orderReference: string,
  buyer: { memberId: string; referrer: string },
  at: Date,
  ago: number,
): Promise<void> {
  // PGlite answers in-process: without a macrotask turn the seed would keep HTTP (readyz) waiting.
  await new Promise((resolve) => setImmediate(resolve));
  const { random, config } = story;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const [first, second] = [pick(PRODUCTS), pick(PRODUCTS)];
  const line = (lineId: string, p: (typeof PRODUCTS)[number], quantity: number) => ({
    lineId,
    vendorId: p.vendorId,
    productId: p.productId,
    quantity,
    unitAmount: p.price,
  });
  const lines = [line("l1", first, 1 + Math.floor(random() * 2))];
  if (second.productId !== first.productId && random() < 0.5) lines.push(line("l2", second, 1));
  const order = await createOrder(
    story.db,
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
  story.result.orders++;
  const gross = BigInt(order.totals.gross);
  // Most orders are paid; a few checkouts are abandoned.
  const paid = random() < 0.88;
  if (paid) {
    const paymentRail = pick(["card", "card", "credit"] as const);
    const data = { orderReference, amountPaid: gross, currency: "UAH", paymentRail, paidAt: at };
    await story.webhook(`evt_h_${orderReference}`, "order.paid", data, (trx) =>
      recordOrderPaid(trx, config, SYSTEM, data),
    );
    story.result.paid++;
  }
  story.orders.push({ orderReference, at, referrer: buyer.referrer, gross, paid, day: ago });
}
