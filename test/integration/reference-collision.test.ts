import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  counts,
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

/**
 * Orders and memberships share one reference space: the reward's unique `order_reference` and the
 * contract's keccak256(reference). A collision is refused loudly (409, nothing recorded), never paid
 * as `reward: null` while the settlements withhold the commission.
 */
describe(`an order and a membership never share a reference silently (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
    await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_member", refCode: "ANNA7F3K" },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const membershipEvent = (membershipReference: string) => ({
    type: "membership.paid",
    data: {
      memberId: "m_member",
      membershipReference,
      amountPaid: "30000",
      currency: "UAH",
      paidAt: new Date().toISOString(),
    },
  });

  async function orderStatus(ref: string) {
    return (
      await t.services.db
        .selectFrom("orders")
        .select("status")
        .where("order_reference", "=", ref)
        .executeTakeFirst()
    )?.status;
  }

  async function journalRows(ref: string) {
    const rows = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM journal_entries WHERE order_reference = ${ref}`.execute(t.services.db);
    return Number(rows.rows[0]!.n);
  }

  it("refuses order.paid (409) whose reference is already a membership reward, and records nothing", async () => {
    const ref = "shared_ref_1";
    const membership = await t.webhook(membershipEvent(ref));
    expect(membership.status).toBe(200);
    expect(membership.body.reward).not.toBeNull();
    const created = await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    expect(created.status).toBe(201);
    const journalBefore = await journalRows(ref);
    const before = await counts(t, ref);

    const paid = await t.webhook(paidEvent(ref, "170000"));
    expect(paid.status).toBe(409);
    expect(paid.body.code).toBe("order_conflict");
    expect(paid.body.detail).toContain("membership");
    // Nothing was written: no settlement, no assist, the order still unpaid, no journal, no webhook row.
    expect(await counts(t, ref)).toEqual(before);
    expect(before).toMatchObject({ settlements: 0, assists: 0, rewards: 1 });
    expect(await orderStatus(ref)).toBe("created");
    expect(await journalRows(ref)).toBe(journalBefore);
    const report = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(report.body.mismatches).toEqual([]);
  });

  it("refuses order.paid carrying data.order whose reference is a membership reward, and creates no order", async () => {
    const ref = "shared_ref_2";
    expect((await t.webhook(membershipEvent(ref))).status).toBe(200);
    const paid = await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }));
    expect(paid.status).toBe(409);
    expect(paid.body.code).toBe("order_conflict");
    expect(await orderStatus(ref)).toBeUndefined();
    expect(await counts(t, ref)).toMatchObject({ settlements: 0, assists: 0, rewards: 1 });
  });

  it("refuses membership.paid (409) whose reference names an order, even one not paid or rewarded", async () => {
    const ref = "shared_ref_3";
    // A checkout without a referral: no reward will ever exist for this order.
    const created = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody(ref, { refCode: null, buyerMemberId: "m_unreferred_buyer" }),
    });
    expect(created.status).toBe(201);
    const membership = await t.webhook(membershipEvent(ref));
    expect(membership.status).toBe(409);
    expect(membership.body.code).toBe("order_conflict");
    const rows = await t.services.db
      .selectFrom("membership_payments")
      .select("membership_reference")
      .where("membership_reference", "=", ref)
      .execute();
    expect(rows).toEqual([]);
    expect(await journalRows(ref)).toBe(0);
  });

  it("refuses membership.paid (409) whose reference is a paid order's reward", async () => {
    const ref = "shared_ref_4";
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) });
    const paid = await t.webhook(paidEvent(ref, "170000"));
    expect(paid.body.reward).not.toBeNull();
    const membership = await t.webhook(membershipEvent(ref));
    expect(membership.status).toBe(409);
    expect(membership.body.code).toBe("order_conflict");
  });

  it("an order and a membership racing for one reference: one is recorded, the other refused", async () => {
    const ref = "shared_ref_5";
    await t.request("POST", "/v1/members", { key: t.keys.integration, body: { memberId: "m_member" } });
    const [order, membership] = await Promise.all([
      t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) })),
      t.webhook(membershipEvent(ref)),
    ]);
    const statuses = [order.status, membership.status].sort();
    expect(statuses).toEqual([200, 409]);
    const winner = order.status === 200 ? order : membership;
    expect(winner.body.reward).not.toBeNull();
    const report = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(report.body.mismatches).toEqual([]);
  });

  it("a membership redelivered under a new webhook id is still a duplicate", async () => {
    const ref = "mem_own_ref";
    const first = await t.webhook(membershipEvent(ref));
    expect(first.status).toBe(200);
    const again = await t.webhook(membershipEvent(ref));
    expect(again.status).toBe(200);
    expect(again.body.result).toBe("duplicate");
  });
});
