import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { sql } from "kysely";
import { type Hex, keccak256, stringToBytes } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referralRewardsAbi } from "../../src/chain/abi.generated.js";
import { isAppError } from "../../src/errors.js";
import { createMinter, type Minter, minterConfig } from "../../src/jobs/minter.js";
import type { Actor } from "../../src/ledger/audit.js";
import { buildPayouts, markPayoutPaid } from "../../src/ledger/build-payouts.js";
import { createOrder } from "../../src/ledger/create-order.js";
import { reconcile } from "../../src/ledger/reconcile.js";
import { recordChargeback } from "../../src/ledger/record-chargeback.js";
import { recordOrderPaid } from "../../src/ledger/record-order-paid.js";
import { recordRefund } from "../../src/ledger/record-refund.js";
import { recordWebhook } from "../../src/ledger/record-webhook.js";
import { reviewRewards } from "../../src/ledger/review-rewards.js";
import { hashJson } from "../../src/lib/crypto.js";
import { seedCatalog, startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * Model test of the ledger: random sequences of paid, partial refunds, chargebacks, approvals,
 * rejections, mints (the real minter on the embedded chain), payouts and exact webhook replays, driven
 * through the same use cases and the same `recordWebhook` transaction as the HTTP route. One instance
 * is shared; each run gets a fresh referrer and fresh order references, so the invariants are checked
 * per run and reconcile checks everything at the end. MODEL_RUNS sets the number of runs.
 */

const RUNS = Number(process.env.MODEL_RUNS ?? (TEST_DB === "postgres" ? 600 : 300));
const ACTOR: Actor = { id: "test:model" };
const ORDERS = 3;
const EXPECTED_REFUSALS = new Set([
  "refund_exceeds_paid",
  "unprocessable",
  "invalid_transition",
  "order_conflict",
]);

type Action =
  | { kind: "paid"; order: number; rail: "card" | "credit"; mismatch: boolean }
  | { kind: "paidTogether"; mismatch: boolean }
  | { kind: "refund"; order: number; permille: number; reuseId: boolean }
  | { kind: "chargeback"; order: number; dispute: number; status: "opened" | "won" | "lost" }
  | { kind: "approve"; order: number }
  | { kind: "reject"; order: number }
  | { kind: "mint" }
  | { kind: "mintInterrupted" }
  | { kind: "recover" }
  | { kind: "payout"; markPaid: boolean }
  | { kind: "replay" };

// Biased to the first order so that paid → approve → mint → refund chains (clawbacks) are common.
const order = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: ORDERS - 1 }) },
);
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("paid" as const),
      order,
      rail: fc.constantFrom("card" as const, "credit" as const),
      mismatch: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("refund" as const),
      order,
      permille: fc.integer({ min: 1, max: 1100 }),
      reuseId: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("chargeback" as const),
      order,
      dispute: fc.integer({ min: 0, max: 1 }),
      status: fc.constantFrom("opened" as const, "won" as const, "lost" as const),
    }),
  },
  // Orders 0 and 1 paid at the same moment: with a shared buyer (open carts) only one is the first.
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("paidTogether" as const),
      mismatch: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("approve" as const), order }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reject" as const), order }) },
  { weight: 4, arbitrary: fc.constant({ kind: "mint" as const }) },
  // A mint run that dies after its claim (rewards stay `minting`, nothing sent), then recovery once
  // the lease is over: refunds and disputes in between must be applied when the batch is released.
  { weight: 1, arbitrary: fc.constant({ kind: "mintInterrupted" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "recover" as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("payout" as const), markPaid: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "replay" as const }) },
);

describe(`ledger model: random event sequences keep every invariant (${TEST_DB})`, () => {
  let t: TestInstance;
  let interrupted: Minter;
  let run = 0;
  const stats = { runs: 0, actions: 0, refused: 0, mints: 0, interrupted: 0, payouts: 0, ms: 0 };
  beforeAll(async () => {
    t = await startTestInstance({ MINT_BATCH_SIZE: "200" });
    await seedCatalog(t);
    // A second minter on the same key and database whose runs die right after the claim.
    interrupted = createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: t.services.chain,
      config: minterConfig(t.services.config, t.services.chain.confirmations),
      logger: t.services.logger,
      hooks: {
        at(point) {
          if (point === "after-claim") throw new Error("model: mint run interrupted after its claim");
        },
      },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** `sharedBuyer`: orders 0 and 1 are two open carts of one buyer (first_order: one reward at most). */
  async function setupRun(sharedBuyer: boolean) {
    const db = t.services.db;
    const id = `${++run}_${randomBytes(3).toString("hex")}`;
    const referrer = `m_ref_${id}`;
    const code = `R${randomBytes(5).toString("hex").toUpperCase()}`;
    await db
      .insertInto("members")
      .values({ member_id: referrer, wallet_address: `0x${randomBytes(20).toString("hex")}` })
      .execute();
    await db
      .insertInto("referral_codes")
      .values({ code, owner_member_id: referrer, kind: "vanity" })
      .execute();
    const refs: string[] = [];
    const totals: bigint[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const ref = `ord_m_${id}_${i}`;
      const created = await createOrder(db, t.services.config, ACTOR, {
        orderReference: ref,
        buyerMemberId: sharedBuyer && i === 1 ? `m_b_${id}_0` : `m_b_${id}_${i}`,
        refCode: code,
        currency: "UAH",
        lines: [
          {
            lineId: "l1",
            vendorId: "v_books",
            productId: "p_novel",
            quantity: 1 + (i % 3),
            unitAmount: 12_345n + BigInt(i),
          },
          { lineId: "l2", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: 99_999n },
        ],
        shippingAmount: BigInt(i * 777),
        discountAmount: BigInt(i * 333),
      });
      expect(created.referralApplied).toBe(true);
      refs.push(ref);
      totals.push(BigInt(created.totals.gross));
    }
    return { id, referrer, refs, totals, sharedBuyer };
  }

  async function deliver(eventId: string, payload: unknown, handle: Parameters<typeof recordWebhook>[2]) {
    return recordWebhook(
      t.services.db,
      { provider: "payments", eventId, eventType: "model", payloadHash: hashJson(payload) },
      handle,
    );
  }

  async function checkInvariants(ctx: Awaited<ReturnType<typeof setupRun>>, refunded: bigint[]) {
    const db = t.services.db;
    // Journal balances: every transaction touching this run sums to zero per asset.
    const unbalanced = await sql`
      SELECT txn_id, asset FROM journal_entries
      WHERE txn_id IN (SELECT txn_id FROM journal_entries WHERE order_reference IN (${sql.join(ctx.refs)}))
      GROUP BY txn_id, asset HAVING sum(amount) <> 0`.execute(db);
    expect(unbalanced.rows).toEqual([]);
    for (const [i, ref] of ctx.refs.entries()) {
      const o = await db
        .selectFrom("orders")
        .selectAll()
        .where("order_reference", "=", ref)
        .executeTakeFirstOrThrow();
      // Refunds never exceed what was paid, and equal what the model accepted.
      expect(o.amount_refunded).toBe(refunded[i]);
      expect(o.amount_refunded <= (o.amount_paid ?? 0n)).toBe(true);
      // Rails agree: reward basis (less what was clawed back) = Σ effective referral commission.
      const commission = await sql<{ c: string }>`
        SELECT coalesce(sum(s.referral_commission), 0) + coalesce((SELECT sum(a.referral_commission_delta)
          FROM settlement_adjustments a WHERE a.order_reference = ${ref}), 0) AS c
        FROM settlements s WHERE s.order_reference = ${ref}`.execute(db);
      const reward = await db
        .selectFrom("referral_rewards")
        .selectAll()
        .where("order_reference", "=", ref)
        .executeTakeFirst();
      if (reward && reward.status !== "rejected") {
        expect(reward.fiat_basis - reward.clawed_back_basis).toBe(BigInt(commission.rows[0]!.c));
      }
      // No reward, no commission withheld from the vendors either (an order that was not the
      // buyer's first paid one carries none on rail A).
      if (!reward && o.status !== "created") expect(BigInt(commission.rows[0]!.c)).toBe(0n);
      if (reward) {
        // No reward minted twice: at most one mint posting, and exactly one ReferralPaid log if minted.
        const mints = await sql<{ n: string }>`
          SELECT count(DISTINCT txn_id)::text AS n FROM journal_entries WHERE order_reference = ${ref} AND event = 'reward.minted'`.execute(
          db,
        );
        expect(Number(mints.rows[0]!.n)).toBe(reward.status === "minted" ? 1 : 0);
        if (reward.status === "minted") {
          const logs = await t.services.chain.publicClient.getContractEvents({
            address: t.services.chain.addresses.referralRewards,
            abi: referralRewardsAbi,
            eventName: "ReferralPaid",
            args: { orderRef: keccak256(stringToBytes(ref)) as Hex },
            fromBlock: t.services.chain.deployBlock,
            toBlock: "latest",
          });
          expect(logs).toHaveLength(1);
          expect(logs[0]!.args.amount).toBe(BigInt(reward.amount_wei));
        }
      }
    }
    // Open carts of one buyer under first_order: at most one of them is rewarded.
    if (ctx.sharedBuyer && t.services.config.ATTRIBUTION_SCOPE === "first_order") {
      const rewarded = await sql<{ n: string }>`
        SELECT count(*)::text AS n FROM referral_rewards WHERE order_reference IN (${ctx.refs[0]!}, ${ctx.refs[1]!})`.execute(
        db,
      );
      expect(Number(rewarded.rows[0]!.n)).toBeLessThanOrEqual(1);
    }
    // Clawback debt never negative, and the journal agrees with the running balance.
    const debt = await sql<{ min: string | null; last: string | null; total: string | null }>`
      SELECT min(debt_after)::text AS min, (array_agg(debt_after ORDER BY id DESC))[1]::text AS last,
             sum(amount_wei)::text AS total FROM clawbacks WHERE referrer_member_id = ${ctx.referrer}`.execute(
      db,
    );
    const row = debt.rows[0]!;
    if (row.min !== null) {
      expect(BigInt(row.min) >= 0n).toBe(true);
      expect(row.last).toBe(row.total);
    }
    const receivable = await sql<{ b: string | null }>`
      SELECT sum(amount)::text AS b FROM journal_entries WHERE account = ${`receivable:clawback:${ctx.referrer}`}`.execute(
      db,
    );
    expect(BigInt(receivable.rows[0]!.b ?? "0")).toBe(BigInt(row.total ?? "0"));
  }

  async function runSequence(actions: Action[], sharedBuyer: boolean) {
    const ctx = await setupRun(sharedBuyer);
    const db = t.services.db;
    const paid: Array<bigint | null> = ctx.refs.map(() => null);
    const refunded: bigint[] = ctx.refs.map(() => 0n);
    let refundSeq = 0;
    let last: { id: string; payload: unknown; handle: Parameters<typeof recordWebhook>[2] } | undefined;
    const attempt = async (
      id: string,
      payload: unknown,
      handle: Parameters<typeof recordWebhook>[2],
    ): Promise<{ result: string; code?: string }> => {
      last = { id, payload, handle };
      try {
        return await deliver(id, payload, handle);
      } catch (error) {
        if (isAppError(error) && EXPECTED_REFUSALS.has(error.code)) {
          stats.refused++;
          return { result: "refused", code: error.code };
        }
        throw error;
      }
    };
    for (const [step, a] of actions.entries()) {
      stats.actions++;
      const eventId = `evt_${ctx.id}_${step}`;
      if (a.kind === "paid") {
        const i = a.order;
        const amountPaid = a.mismatch ? ctx.totals[i]! - 1n : ctx.totals[i]!;
        const event = {
          orderReference: ctx.refs[i]!,
          amountPaid,
          currency: "UAH",
          paymentRail: a.rail,
          paidAt: new Date(),
        };
        const out = await attempt(eventId, { ...event, paidAt: 0 }, (trx) =>
          recordOrderPaid(trx, t.services.config, ACTOR, event),
        );
        if (out.result === "recorded") paid[i] = amountPaid;
        if (paid[i] === null) expect(out.result).toBe("recorded");
      } else if (a.kind === "paidTogether") {
        const outs = await Promise.all(
          [0, 1].map((i) => {
            const amountPaid = a.mismatch && i === 0 ? ctx.totals[i]! - 1n : ctx.totals[i]!;
            const event = {
              orderReference: ctx.refs[i]!,
              amountPaid,
              currency: "UAH",
              paymentRail: "card" as const,
              paidAt: new Date(),
            };
            return attempt(`${eventId}_${i}`, { ...event, paidAt: 0 }, (trx) =>
              recordOrderPaid(trx, t.services.config, ACTOR, event),
            ).then((out) => ({ out, i, amountPaid }));
          }),
        );
        for (const { out, i, amountPaid } of outs) {
          if (out.result === "recorded") paid[i] = amountPaid;
          if (paid[i] === null) expect(out.result).toBe("recorded");
        }
      } else if (a.kind === "refund") {
        const i = a.order;
        const base = paid[i] ?? ctx.totals[i]!;
        const amount = (base * BigInt(a.permille) + 999n) / 1000n;
        const refundId = a.reuseId && refundSeq > 0 ? `re_${refundSeq}` : `re_${++refundSeq}`;
        const event = {
          orderReference: ctx.refs[i]!,
          refundId,
          amountRefunded: amount,
          refundedAt: new Date(),
        };
        const out = await attempt(eventId, { ...event, refundedAt: 0 }, (trx) =>
          recordRefund(trx, ACTOR, event),
        );
        if (out.result === "recorded") refunded[i] = refunded[i]! + amount;
        if (paid[i] !== null && out.result === "refused" && out.code === "refund_exceeds_paid") {
          expect(refunded[i]! + amount > paid[i]!).toBe(true);
        }
      } else if (a.kind === "chargeback") {
        const i = a.order;
        const event = {
          orderReference: ctx.refs[i]!,
          disputeId: `dp_${a.dispute}`,
          status: a.status,
          amount: ctx.totals[i]!,
        };
        const out = await attempt(eventId, event, (trx) => recordChargeback(trx, ACTOR, event));
        if (out.result === "recorded" && a.status === "lost") refunded[i] = paid[i]!;
      } else if (a.kind === "approve" || a.kind === "reject") {
        const reward = await db
          .selectFrom("referral_rewards")
          .select("id")
          .where("order_reference", "=", ctx.refs[a.order]!)
          .executeTakeFirst();
        if (reward) {
          await reviewRewards(db, ACTOR, {
            ids: [reward.id],
            decision: a.kind === "approve" ? "approved" : "rejected",
            note: "model",
          });
        }
      } else if (a.kind === "mint") {
        const result = await t.services.minter.runOnce();
        // "waiting": an interrupted batch still holds its lease.
        expect(["confirmed", "empty", "released", "waiting"]).toContain(result.status);
        stats.mints++;
      } else if (a.kind === "mintInterrupted") {
        await interrupted.runOnce().catch(() => undefined);
        stats.interrupted++;
      } else if (a.kind === "recover") {
        // The lease runs out (time passes), then recovery resolves the open batch from the chain.
        await sql`UPDATE mint_batches SET lease_expires_at = now() - interval '1 second'
                  WHERE status IN ('claimed', 'signed')`.execute(db);
        await t.services.minter.recover();
      } else if (a.kind === "payout") {
        await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending' AND order_reference IN (${sql.join(ctx.refs)})`.execute(
          db,
        );
        const built = await buildPayouts(db, ACTOR);
        stats.payouts += built.payouts.length;
        if (a.markPaid) for (const p of built.payouts) await markPayoutPaid(db, ACTOR, BigInt(p.payoutId));
      } else if (a.kind === "replay" && last) {
        // The same webhook id and payload again: a duplicate, or refused again; never a second effect.
        const before = refunded.slice();
        const { id, payload, handle } = last;
        const out = await attempt(id, payload, handle);
        expect(["duplicate", "refused"]).toContain(out.result);
        expect(refunded).toEqual(before);
      }
    }
    // Nothing stays in flight into the next run: an interrupted batch is resolved now.
    await sql`UPDATE mint_batches SET lease_expires_at = now() - interval '1 second'
              WHERE status IN ('claimed', 'signed')`.execute(db);
    await t.services.minter.recover();
    await checkInvariants(ctx, refunded);
  }

  it(
    `holds journal balance, rails agreement, refunds ≤ paid, single mint and non-negative debt over ${RUNS} random sequences`,
    async () => {
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(
          fc.array(action, { minLength: 4, maxLength: 24 }),
          fc.boolean(),
          async (actions, sharedBuyer) => {
            await runSequence(actions, sharedBuyer);
            stats.runs++;
          },
        ),
        { numRuns: RUNS, seed: process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : undefined },
      );
      stats.ms = Date.now() - started;
      const report = await reconcile(t.services.db, t.services.chain);
      const kinds = await sql<{
        kind: string;
        n: string;
      }>`SELECT kind, count(*)::text AS n FROM clawbacks GROUP BY kind`.execute(t.services.db);
      const clawbacks = Object.fromEntries(kinds.rows.map((row) => [row.kind, Number(row.n)]));
      console.log(
        `ledger model: ${JSON.stringify({ ...stats, clawbacks })}; reconcile ${JSON.stringify(report.checked)}, mismatches ${report.mismatches.length}`,
      );
      expect(report.mismatches).toEqual([]);
    },
    24 * 3600_000,
  );
});
