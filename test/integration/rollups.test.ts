import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAppError } from "../../src/errors.js";
import type { Actor } from "../../src/ledger/audit.js";
import { buildPayouts, markPayoutPaid } from "../../src/ledger/build-payouts.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { readAdminStats } from "../../src/ledger/queries/admin-stats.js";
import { readAdminStatsRollup } from "../../src/ledger/queries/admin-stats-rollup.js";
import { readMemberCountsRollup } from "../../src/ledger/queries/member-counts-rollup.js";
import { readMemberCountsScan } from "../../src/ledger/queries/member-dashboard.js";
import { vendorSummaryRollup } from "../../src/ledger/queries/vendor-summary-rollup.js";
import { recordChargeback } from "../../src/ledger/record-chargeback.js";
import { recordOrderPaid } from "../../src/ledger/record-order-paid.js";
import { recordRefund } from "../../src/ledger/record-refund.js";
import { recordWebhook } from "../../src/ledger/record-webhook.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { reviewRewards } from "../../src/ledger/review-rewards.js";
import { foldRollups } from "../../src/ledger/rollups/fold.js";
import { vendorSummary } from "../../src/ledger/vendor-statements.js";
import { hashJson } from "../../src/lib/crypto.js";
import { seedCatalog, startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * The day rollups (migration 0015) against the scanning queries they replace, after random mixes of
 * signups, paid orders (several at once for one referrer), refunds, chargebacks (opened, won, lost),
 * approvals, rejections, mints and payouts — some of them concurrent distinct events on shared rows
 * (refunds racing a payout over the same settlements) — with rows spread over several UTC days, over
 * ranges with partial first and last days, before and after folds.
 */
const ACTOR: Actor = { id: "test:rollups" };
const DAY = 86_400_000;
const HOUR = 3_600_000;

/** A small deterministic PRNG (mulberry32), so a failure replays from the printed seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const norm = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(norm)
    : value && typeof value === "object" && !(value instanceof Date)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, norm(v)]))
      : value === null || value === undefined
        ? value
        : String(value);

describe(`rollups equal the scanning queries (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance({ MINT_BATCH_SIZE: "50" });
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function deliver(id: string, payload: unknown, handle: Parameters<typeof recordWebhook>[2]) {
    try {
      return await recordWebhook(
        t.services.db,
        { provider: "payments", eventId: id, eventType: "rollups", payloadHash: hashJson(payload) },
        handle,
      );
    } catch (error) {
      if (isAppError(error)) return { result: "refused" as const };
      throw error;
    }
  }

  async function compareAll(label: string, referrers: string[]) {
    const db = t.services.db;
    const now = Date.now();
    const ranges: Array<[Date, Date]> = [
      [new Date(now - 28 * DAY), new Date(now + 60_000)],
      [new Date(now - 3.3 * DAY), new Date(now - 1.6 * DAY)],
      [new Date(now - 2 * DAY - 3_600_000), new Date(now - 2 * DAY + 3_600_000)],
      [new Date(Math.floor(now / DAY - 4) * DAY), new Date(Math.floor(now / DAY) * DAY)],
      [new Date(now - 10 * DAY), new Date(now + DAY)],
      // The admin default (to = now), ranges inside one hour, on hour boundaries, across a midnight.
      [new Date(now - 28 * DAY), new Date(now)],
      [new Date(now - 20 * 60_000), new Date(now)],
      [new Date(now - 7 * DAY - 50 * 60_000), new Date(now - 7 * DAY + 5 * 60_000)],
      [new Date(Math.floor(now / HOUR - 30) * HOUR), new Date(Math.floor(now / HOUR) * HOUR)],
      [
        new Date(Math.floor(now / DAY) * DAY - 5 * HOUR - 7_000),
        new Date(Math.floor(now / DAY) * DAY + 2 * HOUR + 3),
      ],
    ];
    for (const [from, to] of ranges) {
      const days = {
        from,
        to,
        firstDay: from.toISOString().slice(0, 10),
        lastDay: new Date(to.getTime() - 1).toISOString().slice(0, 10),
      };
      const scan = norm(await readAdminStats(db, days));
      // `now` picks whether a sub-hour remnant is read from its rows or as its hour bucket minus the rest
      // of the hour: each way must give the scan's answer.
      for (const at of [new Date(now), from, new Date(to.getTime() + 2 * HOUR), new Date(now - 40 * DAY)]) {
        const rollup = norm(await readAdminStatsRollup(db, days, at));
        expect(
          rollup,
          `${label}: stats ${from.toISOString()}..${to.toISOString()} now=${at.toISOString()}`,
        ).toEqual(scan);
      }
      for (const vendor of ["v_books", "v_games"]) {
        for (const filter of [{}, { from }, { to }, { from, to }]) {
          expect(
            norm(await vendorSummaryRollup(db, vendor, filter)),
            `${label}: summary ${vendor} ${JSON.stringify(filter)}`,
          ).toEqual(norm(await vendorSummary(db, vendor, filter)));
        }
      }
    }
    for (const referrer of referrers) {
      expect(norm(await readMemberCountsRollup(db, referrer)), `${label}: /v1/me ${referrer}`).toEqual(
        norm(await readMemberCountsScan(db, referrer)),
      );
    }
  }

  it("after random event mixes with concurrent distinct events, across days, folded or not", async () => {
    const db = t.services.db;
    const config = t.services.config;
    const seed = Number(process.env.ROLLUP_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
    console.log(`rollups seed ${seed}`);
    const run = randomBytes(3).toString("hex");
    const referrers: string[] = [];
    const codes: string[] = [];
    for (let r = 0; r < 4; r++) {
      const id = `m_rr_${run}_${r}`;
      await registerMember(db, ACTOR, {
        memberId: id,
        walletAddress: `0x${randomBytes(20).toString("hex")}`,
      });
      const code = await issueCode(db, ACTOR, id, { vanity: `RU${run.toUpperCase()}${r}` });
      referrers.push(id);
      codes.push(code.code);
    }
    // Signups attributed to the referrers.
    for (let i = 0; i < 12; i++) {
      await registerMember(db, ACTOR, { memberId: `m_su_${run}_${i}`, refCode: pick(codes) });
    }
    const orders: Array<{ ref: string; total: bigint }> = [];
    const pay = async (i: number, code: string) => {
      const ref = `ord_ru_${run}_${i}`;
      const qty = 1 + Math.floor(random() * 3);
      const total = BigInt(qty) * 25_000n + 120_000n;
      const event = {
        orderReference: ref,
        amountPaid: random() < 0.1 ? total - 1n : total,
        currency: "UAH",
        paymentRail: random() < 0.8 ? ("card" as const) : ("credit" as const),
        paidAt: new Date(),
        order: {
          orderReference: ref,
          buyerMemberId: `m_bu_${run}_${i}`,
          refCode: random() < 0.9 ? code : null,
          currency: "UAH",
          lines: [
            { lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: qty, unitAmount: 25_000n },
            { lineId: "l2", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: 120_000n },
          ],
          shippingAmount: 0n,
          discountAmount: 0n,
        },
      };
      await deliver(`evt_paid_${ref}`, { ref }, (trx) => recordOrderPaid(trx, config, ACTOR, event));
      orders.push({ ref, total });
    };
    // Distinct orders of ONE referrer paid at once (they share the referrer's rows everywhere).
    await Promise.all(Array.from({ length: 12 }, (_, i) => pay(i, codes[0]!)));
    for (let i = 12; i < 40; i++) await pay(i, pick(codes));
    await compareAll("after orders", referrers);

    let seq = 0;
    for (let step = 0; step < 60; step++) {
      const order = pick(orders);
      const roll = random();
      if (roll < 0.25) {
        const amount = (order.total * BigInt(1 + Math.floor(random() * 600))) / 1000n + 1n;
        const event = {
          orderReference: order.ref,
          refundId: `re_${++seq}`,
          amountRefunded: amount,
          refundedAt: new Date(),
        };
        await deliver(`evt_re_${run}_${seq}`, { ...event, refundedAt: 0 }, (trx) =>
          recordRefund(trx, ACTOR, event),
        );
      } else if (roll < 0.4) {
        const status = pick(["opened", "won", "lost"] as const);
        const event = {
          orderReference: order.ref,
          disputeId: `dp_${Math.floor(random() * 2)}`,
          status,
          amount: order.total,
        };
        await deliver(`evt_cb_${run}_${++seq}`, event, (trx) => recordChargeback(trx, ACTOR, event));
      } else if (roll < 0.65) {
        const reward = await db
          .selectFrom("referral_rewards")
          .select("id")
          .where("order_reference", "=", order.ref)
          .executeTakeFirst();
        if (reward)
          await reviewRewards(db, ACTOR, {
            ids: [reward.id],
            decision: random() < 0.8 ? "approved" : "rejected",
          });
      } else if (roll < 0.75) {
        await t.services.minter.runOnce();
      } else if (roll < 0.9) {
        // A payout racing refunds of distinct orders over the vendor's settlement rows.
        await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending'`.execute(db);
        const refunds = [pick(orders), pick(orders)].map((o) => {
          const event = {
            orderReference: o.ref,
            refundId: `re_${++seq}`,
            amountRefunded: 1000n,
            refundedAt: new Date(),
          };
          return deliver(`evt_re_${run}_${seq}`, { ...event, refundedAt: 0 }, (trx) =>
            recordRefund(trx, ACTOR, event),
          );
        });
        const [built] = await Promise.all([buildPayouts(db, ACTOR), ...refunds]);
        for (const p of built.payouts)
          if (random() < 0.5) await markPayoutPaid(db, ACTOR, BigInt(p.payoutId));
      } else {
        await foldRollups(db, { batch: 7 + Math.floor(random() * 50), maxRounds: 1 });
      }
    }
    await compareAll("after the mix (partly folded)", referrers);

    // Spread the rows over the last days (each order's rows together), as a year of traffic would be:
    // every change goes through the triggers, as the writers' own updates do.
    const shift = sql`((abs(hashtext(order_reference)) % 6) * interval '1 day' + interval '7 hours')`;
    await sql`UPDATE orders SET created_at = created_at - ${shift}, paid_at = paid_at - ${shift}
              WHERE order_reference LIKE ${`ord_ru_${run}_%`}`.execute(db);
    await sql`UPDATE referral_rewards SET created_at = created_at - ${shift}, minted_at = minted_at - ${shift}
              WHERE order_reference LIKE ${`ord_ru_${run}_%`}`.execute(db);
    await sql`UPDATE settlements SET created_at = created_at - ${shift}
              WHERE order_reference LIKE ${`ord_ru_${run}_%`}`.execute(db);
    await compareAll("spread over days", referrers);
    await foldRollups(db);
    const left = await sql<{ n: string }>`
      SELECT ((SELECT count(*) FROM referrer_day_deltas) + (SELECT count(*) FROM stats_day_deltas)
              + (SELECT count(*) FROM vendor_day_deltas))::text AS n`.execute(db);
    expect(left.rows[0]?.n).toBe("0");
    await compareAll("fully folded", referrers);
  }, 120_000);
});
