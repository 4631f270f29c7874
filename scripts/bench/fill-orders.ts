import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { loadConfig } from "../../src/config.js";
import type { Db } from "../../src/db/connect.js";
import { inTransaction } from "../../src/db/transaction.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { recordOrderPaid } from "../../src/ledger/record-order-paid.js";
import { recordRefund } from "../../src/ledger/record-refund.js";
import { registerMember } from "../../src/ledger/register-member.js";

/**
 * The fill of scripts/bench/fill.ts and reads.ts, through the service's own ledger use cases: members
 * and codes by `registerMember`/`issueCode`, orders by `recordOrderPaid` with `data.order` (checkout and
 * payment in one: orders, lines, settlements of two vendors, assists, rewards, journal — the same
 * statement modules as a webhook), refunds by `recordRefund`, many orders per transaction, several
 * transactions in parallel. One step is not a use case: the rows of each batch are moved back in time
 * (orders' created_at/paid_at, the reward's and settlements' created_at, in the batch's own
 * transaction) so a year of traffic covers a year of UTC days; the rollup triggers see that update
 * like any other.
 */
export type FillConfig = Parameters<typeof recordOrderPaid>[1];

export interface FillPlan {
  prefix: string;
  referrers: number;
  /** Referrer i gets a share ∝ 1/(i+1) (Zipf): referrer 0 is the viral one. */
  orders: number;
  batch: number;
  workers: number;
  /** Spread the orders over this many days back from now (0: leave them at now). */
  days: number;
  /** One order in `refundEvery` gets a partial refund. */
  refundEvery: number;
  /** Stop taking new batches after this `performance.now()` instant. */
  deadline?: number;
  onProgress?: (done: number) => void | Promise<void>;
}

export async function seedReferrers(db: Db, prefix: string, count: number, signupsEach = 0) {
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `m_${prefix}_r${i}`;
    await registerMember(db, SYSTEM, { memberId: id, displayName: `Referrer ${i}` });
    const code = (await issueCode(db, SYSTEM, id)).code;
    codes.push(code);
    for (let s = 0; s < signupsEach; s++) {
      await registerMember(db, SYSTEM, { memberId: `m_${prefix}_s${i}_${s}`, refCode: code });
    }
  }
  return codes;
}

/** Picks referrer indexes with a Zipf(1) distribution. */
function zipf(n: number) {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) {
    acc += w / total;
    cumulative.push(acc);
  }
  return (u: number) => {
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function orderEvent(ref: string, code: string | null, i: number) {
  const qty = 1 + (i % 3);
  const total = BigInt(qty) * 25_000n + 120_000n;
  return {
    orderReference: ref,
    amountPaid: total,
    currency: "UAH",
    paymentRail: i % 10 === 0 ? ("credit" as const) : ("card" as const),
    paidAt: new Date(),
    order: {
      orderReference: ref,
      buyerMemberId: `m_b_${ref}`,
      refCode: code,
      currency: "UAH",
      lines: [
        { lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: qty, unitAmount: 25_000n },
        { lineId: "l2", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: 120_000n },
      ],
      shippingAmount: 0n,
      discountAmount: 0n,
    },
  };
}

/** Fills `plan.orders` orders; returns orders per second. */
export async function fillOrders(db: Db, config: FillConfig, codes: string[], plan: FillPlan) {
  const pick = zipf(codes.length);
  let next = 0;
  let done = 0;
  const started = performance.now();
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const worker = async () => {
    while (next < plan.orders && (plan.deadline === undefined || performance.now() < plan.deadline)) {
      const first = next;
      const count = Math.min(plan.batch, plan.orders - first);
      next += count;
      const refs = Array.from({ length: count }, (_, k) => `ord_${plan.prefix}_${first + k}`);
      const picks = refs.map(() => (random() < 0.95 ? codes[pick(random())]! : null));
      // One transaction holds many events here, which the service never does: a refund (or a reward
      // netting debt) locks its referrer's row, last in each event's lock order, and holds it to the
      // end of the batch. Two workers taking two referrers in opposite orders deadlocked (a 1M fill
      // died so at 200k orders). The batch's events go in one order of referrer (code ↔ referrer is
      // one to one), so every batch takes its referrer locks in the same global order.
      const events = refs
        .map((ref, k) => ({ ref, code: picks[k]!, i: first + k }))
        .sort((a, b) => (a.code ?? "").localeCompare(b.code ?? "") || a.i - b.i);
      await inTransaction(
        db,
        async (trx) => {
          for (const { ref, code, i } of events) {
            await recordOrderPaid(trx, config, SYSTEM, orderEvent(ref, code, i));
            if (i % plan.refundEvery === 0) {
              await recordRefund(trx, SYSTEM, {
                orderReference: ref,
                refundId: `re_${ref}`,
                amountRefunded: 20_000n,
                refundedAt: new Date(),
              });
            }
          }
          if (plan.days > 0) {
            const shift = sql`((abs(hashtext(order_reference)) % ${plan.days}) * interval '1 day'
              + (abs(hashtext(order_reference || 's')) % 86400) * interval '1 second')`;
            await sql`UPDATE orders SET created_at = created_at - ${shift}, paid_at = paid_at - ${shift}
                      WHERE order_reference = ANY(${refs}::text[])`.execute(trx);
            await sql`UPDATE referral_rewards SET created_at = created_at - ${shift}
                      WHERE order_reference = ANY(${refs}::text[])`.execute(trx);
            await sql`UPDATE settlements SET created_at = created_at - ${shift}
                      WHERE order_reference = ANY(${refs}::text[])`.execute(trx);
          }
        },
        { name: "bench fill" },
      );
      done += count;
      await plan.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: plan.workers }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { orders: done, seconds, perSecond: done / seconds };
}

/** A configuration for the fill (defaults, generated secrets). */
export function fillConfig(): FillConfig {
  return loadConfig({
    DEMO: "0",
    JOBS: "0",
    LOG_LEVEL: "silent",
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(16).toString("hex"),
    WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
  });
}
