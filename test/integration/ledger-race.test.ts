import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

const REFUNDS: Array<[string, string]> = [
  ["re_1", "17000"],
  ["re_2", "333"],
  ["re_3", "50001"],
  ["re_4", "1"],
  ["re_5", "4999"],
];

describe(`paid and refund deliveries racing for one order (${TEST_DB})`, () => {
  const t = useTestInstance();

  function events(ref: string) {
    const paidAt = "2025-01-01T00:00:00.000Z";
    return [
      paidEvent(ref, "170000", { paidAt }),
      ...REFUNDS.map(([refundId, amountRefunded]) => ({
        type: "order.refunded",
        data: { orderReference: ref, refundId, amountRefunded, refundedAt: paidAt },
      })),
    ];
  }

  /** The order's final state, in terms that do not depend on delivery order. */
  async function finalState(ref: string) {
    const db = t.services.db;
    const order = await db
      .selectFrom("orders")
      .select(["status", "amount_paid", "amount_refunded"])
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    const settlements = await sql<Record<string, string>>`
      SELECT s.vendor_id, s.status,
             (s.gross + coalesce(sum(a.gross_delta), 0))::text AS gross,
             (s.platform_fee + coalesce(sum(a.platform_fee_delta), 0))::text AS fee,
             (s.referral_commission + coalesce(sum(a.referral_commission_delta), 0))::text AS commission,
             (s.net + coalesce(sum(a.net_delta), 0))::text AS net
      FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
      WHERE s.order_reference = ${ref} GROUP BY s.id ORDER BY s.vendor_id`.execute(db);
    const reward = await db
      .selectFrom("referral_rewards")
      .select(["status", "fiat_basis", "amount_wei", "clawback_netted_wei", "clawed_back_basis"])
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    const refunds = await db
      .selectFrom("order_refunds")
      .select(["refund_id", "amount"])
      .where("order_reference", "=", ref)
      .orderBy("refund_id")
      .execute();
    const journal = await sql<Record<string, string>>`
      SELECT account, asset, sum(amount)::text AS balance FROM journal_entries
      WHERE order_reference = ${ref} GROUP BY account, asset HAVING sum(amount) <> 0 ORDER BY account, asset`.execute(
      db,
    );
    const assists = await db
      .selectFrom("erp_sales_assists")
      .select((eb) => eb.fn.countAll<bigint>().as("n"))
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    return {
      order,
      settlements: settlements.rows,
      reward,
      refunds,
      journal: journal.rows,
      assists: assists.n,
    };
  }

  it("reaches the same final state as sequential delivery when 50 mixed duplicate paid/refund events race", async () => {
    const sequential = `ord_seq_${randomBytes(3).toString("hex")}`;
    const raced = `ord_race_${randomBytes(3).toString("hex")}`;
    for (const ref of [sequential, raced]) {
      expect(
        (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
      ).toBe(201);
    }
    for (const event of events(sequential)) expect((await t.webhook(event)).status).toBe(200);

    // 50 deliveries: every event several times, half of the copies reusing one webhook id (exact
    // replays), the rest with fresh ids (the same refundId or paid terms arriving again).
    const list = events(raced);
    const deliveries = Array.from({ length: 50 }, (_, i) => ({
      event: list[i % list.length]!,
      id: i % 2 === 0 ? `evt_${raced}_${i % list.length}` : `evt_${raced}_${i}`,
    }));
    const statuses: number[] = [];
    let pending = deliveries;
    // Like a payment provider: whatever was refused (a refund before its order.paid → 422) is redelivered.
    for (let round = 0; pending.length > 0 && round < 20; round++) {
      const responses = await Promise.all(pending.map((d) => t.webhook(d.event, { id: d.id })));
      statuses.push(...responses.map((r) => r.status));
      for (const r of responses) expect([200, 422]).toContain(r.status);
      pending = pending.filter((_, i) => responses[i]!.status !== 200);
    }
    expect(pending).toEqual([]);

    const [a, b] = [await finalState(sequential), await finalState(raced)];
    expect(b).toEqual(a);
    expect(a.refunds).toHaveLength(REFUNDS.length);
    expect(a.order.amount_refunded).toBe(72334n);

    const reconcile = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(reconcile.body.mismatches).toEqual([]);
  });
});
