import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CSV_COLUMNS,
  csvRow,
  listVendorSettlements,
  vendorSettlementsCsv,
} from "../../src/ledger/vendor-statements.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

const WEI = 10n ** 16n; // the default UAH rate: wei per minor unit

function refundEvent(orderReference: string, refundId: string, amountRefunded: string) {
  return {
    type: "order.refunded",
    data: { orderReference, refundId, amountRefunded, refundedAt: new Date().toISOString() },
  };
}

function chargebackEvent(orderReference: string, disputeId: string, status: string, amount = "170000") {
  return { type: "order.chargeback", data: { orderReference, disputeId, status, amount } };
}

describe(`ledger depth: refunds, clawbacks, chargebacks, memberships, payouts (${TEST_DB})`, () => {
  let t: TestInstance;
  let vendorKey: string;
  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
    vendorKey = await t.keys.vendor("v_books");
  });
  afterAll(async () => {
    await t?.close();
  });

  async function paidOrder(ref: string, extra: Record<string, unknown> = {}) {
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    const paid = await t.webhook(paidEvent(ref, "170000", extra));
    expect(paid.status).toBe(200);
    return paid.body;
  }

  async function effective(ref: string) {
    const rows = await sql<{ vendor_id: string; commission: string; net: string; status: string }>`
      SELECT s.vendor_id, (s.referral_commission + coalesce(sum(a.referral_commission_delta), 0))::text AS commission,
             (s.net + coalesce(sum(a.net_delta), 0))::text AS net, s.status
      FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
      WHERE s.order_reference = ${ref} GROUP BY s.id ORDER BY s.vendor_id`.execute(t.services.db);
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("order_reference", "=", ref)
      .executeTakeFirst();
    return { settlements: rows.rows, reward };
  }

  async function snapshot() {
    const n = async (table: string) =>
      Number(
        (await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)}`.execute(t.services.db))
          .rows[0]!.n,
      );
    return {
      journal: await n("journal_entries"),
      adjustments: await n("settlement_adjustments"),
      refunds: await n("order_refunds"),
      clawbacks: await n("clawbacks"),
      webhooks: await n("webhook_events"),
    };
  }

  async function approveAndMint(rewardId: string) {
    const approve = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [rewardId] },
    });
    expect(approve.body.approved).toContain(rewardId);
    const mint = await t.services.minter.runOnce();
    expect(mint.status).toBe("confirmed");
  }

  it("reduces each vendor's commission and the reward proportionally, cumulatively, across partial refunds", async () => {
    const ref = "ord_refund_partial";
    await paidOrder(ref);
    const first = await t.webhook(refundEvent(ref, "re_1", "17000")); // 10 %
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      result: "recorded",
      amountRefunded: "17000",
      status: "partially_refunded",
      adjustments: 2,
    });
    let state = await effective(ref);
    expect(state.settlements.map((s) => [s.vendor_id, s.commission, s.net])).toEqual([
      ["v_books", "4500", "36000"],
      ["v_games", "8640", "86400"],
    ]);
    expect(state.reward).toMatchObject({
      fiat_basis: 13140n,
      amount_wei: (13140n * WEI).toString(),
      status: "pending_approval",
    });

    // Three uneven partial refunds land exactly where one refund of their sum would.
    for (const [id, amount] of [
      ["re_2", "333"],
      ["re_3", "334"],
      ["re_4", "333"],
    ] as const) {
      expect((await t.webhook(refundEvent(ref, id, amount))).status).toBe(200);
    }
    state = await effective(ref);
    // 18000 of 170000 refunded: 5000 × (1 − 18/170) = 4470.588 → 4471; 9600 × … = 8583.529 → 8584
    expect(state.settlements.map((s) => s.commission)).toEqual(["4471", "8584"]);
    expect(state.reward?.fiat_basis).toBe(4471n + 8584n);
  });

  it("treats a replayed refundId as a duplicate and refuses the same id with another amount (409)", async () => {
    const ref = "ord_refund_replay";
    await paidOrder(ref);
    expect((await t.webhook(refundEvent(ref, "re_x", "1000"))).body.result).toBe("recorded");
    const before = await snapshot();
    const replay = await t.webhook(refundEvent(ref, "re_x", "1000"));
    expect(replay.body.result).toBe("duplicate");
    const conflict = await t.webhook(refundEvent(ref, "re_x", "2000"));
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe("order_conflict");
    expect({ ...(await snapshot()), webhooks: 0 }).toEqual({ ...before, webhooks: 0 });
  });

  it("refuses refunds beyond the amount paid with 422 refund_exceeds_paid and changes nothing", async () => {
    const ref = "ord_refund_exceeds";
    await paidOrder(ref);
    expect((await t.webhook(refundEvent(ref, "re_a", "100000"))).status).toBe(200);
    const before = await snapshot();
    const exceeds = await t.webhook(refundEvent(ref, "re_b", "70001"));
    expect(exceeds.status).toBe(422);
    expect(exceeds.body.code).toBe("refund_exceeds_paid");
    expect(await snapshot()).toEqual(before); // not even the webhook row
    const order = await t.services.db
      .selectFrom("orders")
      .selectAll()
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    expect(order.amount_refunded).toBe(100000n);
  });

  it("cancels the reward and the unpaid settlements on a full refund before mint", async () => {
    const ref = "ord_refund_full";
    await paidOrder(ref);
    expect((await t.webhook(refundEvent(ref, "re_1", "50000"))).status).toBe(200);
    expect((await t.webhook(refundEvent(ref, "re_2", "120000"))).body.status).toBe("refunded");
    const state = await effective(ref);
    expect(state.settlements.map((s) => [s.commission, s.net, s.status])).toEqual([
      ["0", "0", "cancelled"],
      ["0", "0", "cancelled"],
    ]);
    expect(state.reward).toMatchObject({ status: "cancelled", fiat_basis: 0n, amount_wei: "0" });
  });

  it("turns a refund after mint into clawback debt, shown in /v1/me and netted from the next reward before mint", async () => {
    const ref = "ord_claw_1";
    const paid = await paidOrder(ref);
    await approveAndMint(paid.reward.id);
    const refund = await t.webhook(refundEvent(ref, "re_1", "85000")); // half
    expect(refund.body.reward.change).toBe("clawback");
    const state = await effective(ref);
    expect(state.reward).toMatchObject({ status: "minted", fiat_basis: 14600n, clawed_back_basis: 7300n });
    const me = await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") });
    expect(me.body.clawbackDebtWei).toBe((7300n * WEI).toString());

    // The next reward of the same referrer pays the debt first.
    const next = await paidOrder("ord_claw_2");
    expect(next.reward.amountWei).toBe(((14600n - 7300n) * WEI).toString());
    const row = (await effective("ord_claw_2")).reward!;
    expect(row.clawback_netted_wei).toBe((7300n * WEI).toString());
    expect((await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") })).body.clawbackDebtWei).toBe(
      "0",
    );

    // If that reward is later refunded in full before mint, the netted debt comes back.
    expect((await t.webhook(refundEvent("ord_claw_2", "re_1", "170000"))).status).toBe(200);
    expect((await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") })).body.clawbackDebtWei).toBe(
      (7300n * WEI).toString(),
    );
    // The restored debt is netted again by the next reward.
    const more = await paidOrder("ord_claw_3");
    expect(BigInt(more.reward.amountWei)).toBe((14600n - 7300n) * WEI);
    expect((await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") })).body.clawbackDebtWei).toBe(
      "0",
    );
  });

  it("holds both rails on chargeback opened, releases them on won, and refunds everything on lost", async () => {
    const ref = "ord_cb";
    const paid = await paidOrder(ref);
    const opened = await t.webhook(chargebackEvent(ref, "dp_1", "opened"));
    expect(opened.body).toMatchObject({ result: "recorded", held: { reward: true, settlements: 2 } });
    let state = await effective(ref);
    expect(state.reward?.status).toBe("held");
    expect(state.settlements.map((s) => s.status)).toEqual(["held", "held"]);
    expect((await t.webhook(chargebackEvent(ref, "dp_1", "opened"))).body.result).toBe("duplicate");
    expect((await t.webhook(chargebackEvent(ref, "dp_1", "won"))).body).toMatchObject({
      result: "recorded",
      released: 3,
    });
    state = await effective(ref);
    expect(state.reward?.status).toBe("pending_approval");
    // v_books holds 0 days: its schedule has passed, so it goes straight to due; v_games waits 7 days.
    expect(state.settlements.map((s) => s.status)).toEqual(["due", "pending"]);
    expect((await t.webhook(chargebackEvent(ref, "dp_1", "lost"))).status).toBe(409);

    await t.webhook(chargebackEvent(ref, "dp_2", "opened"));
    const lost = await t.webhook(chargebackEvent(ref, "dp_2", "lost"));
    expect(lost.body).toMatchObject({
      result: "recorded",
      refunded: "170000",
      status: "lost",
      orderStatus: "refunded",
    });
    state = await effective(ref);
    expect(state.reward?.status).toBe("cancelled");
    expect(state.settlements.map((s) => [s.status, s.net])).toEqual([
      ["cancelled", "0"],
      ["cancelled", "0"],
    ]);
    expect(paid.reward.id).toBe(state.reward?.id.toString());
  });

  it("pays a platform-funded membership reward to the member's referrer, with no settlement", async () => {
    await t.request("POST", "/v1/members", {
      key: t.keys.integration,
      body: { memberId: "m_club", refCode: "ANNA7F3K" },
    });
    const event = {
      type: "membership.paid",
      data: {
        memberId: "m_club",
        membershipReference: "mem_2025_m_club",
        amountPaid: "30000",
        currency: "UAH",
        paidAt: new Date().toISOString(),
      },
    };
    const paid = await t.webhook(event);
    expect(paid.status).toBe(200);
    // MEMBERSHIP_REFERRAL_BPS defaults to 1000: 10 % of 30000.
    expect(paid.body).toMatchObject({
      result: "recorded",
      reward: { status: "pending_approval", amountWei: (3000n * WEI).toString() },
    });
    const row = await t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("order_reference", "=", "mem_2025_m_club")
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ source: "membership", referrer_member_id: "m_anna", fiat_basis: 3000n });
    expect((await t.webhook(event)).body.result).toBe("duplicate");
    const different = await t.webhook({ ...event, data: { ...event.data, amountPaid: "1" } });
    expect(different.status).toBe(409);
    const none = await t.request("GET", "/v1/admin/settlements?limit=500", { key: t.keys.admin });
    expect(
      none.body.items.some((s: { orderReference: string }) => s.orderReference === "mem_2025_m_club"),
    ).toBe(false);
  });

  it("nets a refund after payout from the vendor's next payout", async () => {
    const ref = "ord_payout_1";
    await paidOrder(ref);
    await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending'`.execute(t.services.db);
    const first = await t.request("POST", "/v1/admin/payouts", {
      key: t.keys.admin,
      body: { vendorId: "v_books" },
    });
    expect(first.status).toBe(200);
    expect(first.body.payouts).toHaveLength(1);
    const state = await effective(ref);
    expect(state.settlements[0]?.status).toBe("in_payout");

    // Refund 10 % after the payout: v_books' net share (−4000) waits for the next payout.
    expect((await t.webhook(refundEvent(ref, "re_after", "17000"))).status).toBe(200);
    const adjustment = await t.services.db
      .selectFrom("settlement_adjustments")
      .selectAll()
      .where("order_reference", "=", ref)
      .where("vendor_id", "=", "v_books")
      .executeTakeFirstOrThrow();
    expect(adjustment).toMatchObject({ applied_to: "next_payout", net_delta: -4000n });

    await paidOrder("ord_payout_2");
    await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending'`.execute(t.services.db);
    const second = await t.request("POST", "/v1/admin/payouts", {
      key: t.keys.admin,
      body: { vendorId: "v_books" },
    });
    const payout = second.body.payouts[0];
    expect(payout.adjustmentIds).toContain(adjustment.id.toString());
    expect(BigInt(payout.adjustmentTotal)).toBeLessThanOrEqual(-4000n);
    // Running it again finds nothing new: every settlement and adjustment is paid out once.
    const third = await t.request("POST", "/v1/admin/payouts", {
      key: t.keys.admin,
      body: { vendorId: "v_books" },
    });
    expect(third.body.payouts).toEqual([]);
    const listed = await t.request("GET", "/v1/admin/payouts?vendorId=v_books", { key: t.keys.admin });
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((p: { payoutId: string }) => p.payoutId === payout.payoutId)).toMatchObject(
      {
        vendorId: "v_books",
        status: "created",
        adjustmentTotal: payout.adjustmentTotal,
      },
    );
  });

  it("builds each payout once when two payout runs race", async () => {
    for (const ref of ["ord_race_p1", "ord_race_p2", "ord_race_p3"]) await paidOrder(ref);
    await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending'`.execute(t.services.db);
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        t.request("POST", "/v1/admin/payouts", { key: t.keys.admin, body: {} }),
      ),
    );
    expect(runs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const built = runs.flatMap((r) => r.body.payouts);
    const settlementIds = built.flatMap((p: { settlementIds: string[] }) => p.settlementIds);
    expect(new Set(settlementIds).size).toBe(settlementIds.length);
    const vendors = built.map((p: { vendorId: string }) => p.vendorId).sort();
    expect(vendors).toEqual([...new Set(vendors)]); // at most one payout per vendor
    const left = await t.services.db
      .selectFrom("settlements")
      .select("id")
      .where("status", "=", "due")
      .execute();
    expect(left).toEqual([]);
  });

  it("serves the vendor its own settlements as JSON and as formula-safe streamed CSV, and 403s other vendors", async () => {
    const json = await t.request("GET", "/v1/vendor/settlements?limit=500", { key: vendorKey });
    expect(json.status).toBe(200);
    expect(json.body.items.length).toBeGreaterThan(0);
    expect(
      json.body.items.every((s: { orderReference: string }) => s.orderReference.startsWith("ord_")),
    ).toBe(true);
    const item = json.body.items.find(
      (s: { orderReference: string }) => s.orderReference === "ord_refund_partial",
    );
    expect(item).toMatchObject({ referralCommission: "5000", effective: { referralCommission: "4471" } });
    expect(item.lines[0]).toMatchObject({ commissionBps: 1000, rateSource: "product" });

    const csv = await t.request("GET", "/v1/vendor/settlements", {
      key: vendorKey,
      headers: { accept: "text/csv" },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toContain("text/csv");
    const lines = csv.text.trim().split("\r\n");
    expect(lines[0]).toContain("settlement_id,order_reference");
    expect(lines).toHaveLength(json.body.items.length + 1);
    // Negative adjustment cells are plain integers (numbers in a spreadsheet), never quoted text.
    expect(lines.some((line) => /,-[0-9]+(,|$)/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(",'-"))).toBe(false);
    expect((await t.request("GET", "/v1/vendor/settlements?format=csv", { key: vendorKey })).text).toBe(
      csv.text,
    );

    // Exactly the cells of the per-settlement view (csvRow), refunds, payouts and all, in id order.
    const views = await listVendorSettlements(t.services.db, "v_books", {}, { limit: 10_000 });
    const expected = `${CSV_COLUMNS.join(",")}\r\n${views.map((view) => `${csvRow(view)}\r\n`).join("")}`;
    expect(csv.text).toBe(expected);
    // Both read paths, with batches smaller than the data (several FETCHes / pages).
    for (const mode of ["cursor", "pages"] as const) {
      if (mode === "cursor" && TEST_DB !== "postgres") continue;
      let text = "";
      for await (const chunk of vendorSettlementsCsv(t.services.db, "v_books", {}, { mode, batch: 2 }))
        text += chunk;
      expect(text).toBe(expected);
      // Filters: a status subset through the same statement.
      let paidOnly = "";
      for await (const chunk of vendorSettlementsCsv(
        t.services.db,
        "v_books",
        { status: "paid" },
        { mode, batch: 2 },
      ))
        paidOnly += chunk;
      const paidViews = views.filter((view) => view.status === "paid");
      expect(paidOnly).toBe(
        `${CSV_COLUMNS.join(",")}\r\n${paidViews.map((view) => `${csvRow(view)}\r\n`).join("")}`,
      );
    }

    const other = await t.request("GET", "/v1/vendor/settlements?vendorId=v_games", { key: vendorKey });
    expect(other.status).toBe(403);
    expect((await t.request("GET", "/v1/vendor/summary?vendorId=v_games", { key: vendorKey })).status).toBe(
      403,
    );
    expect((await t.request("GET", "/v1/vendor/settlements", { key: t.keys.admin })).status).toBe(403);

    const summary = await t.request("GET", "/v1/vendor/summary", { key: vendorKey });
    expect(summary.status).toBe(200);
    expect(summary.body.vendorId).toBe("v_books");
    expect(summary.body.byStatus.length).toBeGreaterThan(0);
    expect(summary.body.byPeriod[0].period).toMatch(/^\d{4}-\d{2}$/);
  });

  it("refuses UPDATE and DELETE on the journal and an unbalanced journal transaction at commit", async () => {
    const db = t.services.db;
    await expect(sql`UPDATE journal_entries SET amount = amount + 1`.execute(db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`DELETE FROM journal_entries`.execute(db)).rejects.toThrow(/append-only/);
    await expect(
      db.transaction().execute(async (trx) => {
        await trx
          .insertInto("journal_entries")
          .values({
            txn_id: "00000000-0000-4000-8000-000000000001",
            event: "test",
            account: "cash:platform",
            asset: "UAH",
            amount: "5",
          })
          .execute();
      }),
    ).rejects.toThrow(/does not balance/);
  });

  it("reconciles with 0 mismatches after all of the above", async () => {
    const report = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(report.status).toBe(200);
    expect(report.body.mismatches).toEqual([]);
    expect(report.body.ok).toBe(true);
    expect(report.body.checked.chainLogs).toBeGreaterThan(0);
  });

  it("names the mismatch when the rails are made to disagree", async () => {
    const ref = "ord_refund_partial";
    await sql`UPDATE settlements SET referral_commission = referral_commission + 1, net = net - 1
              WHERE order_reference = ${ref} AND vendor_id = 'v_games'`.execute(t.services.db);
    // Planted outside the journal: only the full check (every order) can see it.
    const report = await t.request("GET", "/v1/admin/reconcile?full=true", { key: t.keys.admin });
    expect(report.body.ok).toBe(false);
    const checks = report.body.mismatches.map(
      (m: { check: string; subject: string }) => `${m.check} ${m.subject}`,
    );
    expect(checks).toContain(`rails order ${ref}`);
    await sql`UPDATE settlements SET referral_commission = referral_commission - 1, net = net + 1
              WHERE order_reference = ${ref} AND vendor_id = 'v_games'`.execute(t.services.db);
    expect((await t.request("GET", "/v1/admin/reconcile?full=true", { key: t.keys.admin })).body.ok).toBe(
      true,
    );
  });
});
