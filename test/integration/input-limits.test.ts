import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
  type TestResponse,
} from "../support/harness.js";

/**
 * Issue 12: inputs the validators used to accept but the database refuses (int8 overflow, row ids
 * above int8, dates before year 1, NUL in text, derived keys over a CHECK, a webhook-id over its
 * column) answer 4xx problem+json naming the field, and nothing is written.
 */

const INT8_MAX = 9_223_372_036_854_775_807n;
const ABOVE_INT8 = (INT8_MAX + 1n).toString();

/** Every table a request could write to (rate_limit_hits aside: the limiter counts every request). */
const TABLES = [
  "members",
  "referral_codes",
  "vendors",
  "products",
  "orders",
  "order_lines",
  "settlements",
  "erp_sales_assists",
  "referral_rewards",
  "webhook_events",
  "order_refunds",
  "disputes",
  "settlement_adjustments",
  "membership_payments",
  "journal_entries",
  "payouts",
  "clawbacks",
  "idempotency_keys",
  "audit_log",
] as const;

describe(`inputs the database would refuse answer 4xx, not 500 (${TEST_DB})`, () => {
  let t: TestInstance;
  let vendorKey: string;
  const paidRef = "ord_limits_paid";

  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
    vendorKey = await t.keys.vendor("v_books");
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody("ord_limits") });
    await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(paidRef) });
    const paid = await t.webhook(paidEvent(paidRef, "170000"));
    expect(paid.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function snapshot(): Promise<Record<string, number>> {
    const entries = await Promise.all(
      TABLES.map(async (table) => {
        const result = await sql<{ n: string }>`select count(*)::text as n from ${sql.table(table)}`.execute(
          t.services.db,
        );
        return [table, Number(result.rows[0]?.n ?? 0)] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  /** Runs the request, expects a 400 problem naming `path`, and that no table gained or lost a row. */
  async function refused(send: () => Promise<TestResponse>, path: string) {
    const before = await snapshot();
    const res = await send();
    expect(res.status, res.text).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.body.code).toBe("validation_failed");
    expect(
      (res.body.errors ?? []).map((error: { path: string }) => error.path),
      res.text,
    ).toContain(path);
    expect(await snapshot()).toEqual(before);
    return res;
  }

  const order = (ref: string, lines: unknown[], extra: Record<string, unknown> = {}) =>
    orderBody(ref, { lines, ...extra });
  const line = (lineId: string, quantity: number, unitAmount: string) => ({
    lineId,
    vendorId: "v_books",
    productId: "p_novel",
    quantity,
    unitAmount,
  });
  const postOrder = (body: unknown) => () =>
    t.request("POST", "/v1/orders", { key: t.keys.integration, body });

  it("unitAmount above int8 (1e19)", async () => {
    await refused(
      postOrder(order("ord_big_unit", [line("l1", 1, "10000000000000000000")])),
      "body.lines.0.unitAmount",
    );
  });

  it("quantity × unitAmount above int8", async () => {
    await refused(
      postOrder(order("ord_big_product", [line("l1", 2, "5000000000000000000")])),
      "body.lines.0.unitAmount",
    );
  });

  it("line subtotals that sum above int8", async () => {
    await refused(
      postOrder(
        order("ord_big_sum", [line("l1", 1, "5000000000000000000"), line("l2", 1, "5000000000000000000")]),
      ),
      "body.lines",
    );
  });

  it("merchandise + shipping above int8", async () => {
    await refused(
      postOrder(
        order("ord_big_ship", [line("l1", 1, "9000000000000000000")], {
          shippingAmount: "1000000000000000000",
        }),
      ),
      "body.shippingAmount",
    );
  });

  it("an overflowing data.order inside order.paid", async () => {
    const ref = "ord_big_inline";
    await refused(
      () => t.webhook(paidEvent(ref, "1", { order: order(ref, [line("l1", 3, "4000000000000000000")]) })),
      "body.data.order.lines.0.unitAmount",
    );
  });

  it("amountPaid above int8 (1e20)", async () => {
    await refused(() => t.webhook(paidEvent("ord_limits", "100000000000000000000")), "body.data.amountPaid");
  });

  it("amountRefunded and a chargeback amount above int8", async () => {
    await refused(
      () =>
        t.webhook({
          type: "order.refunded",
          data: {
            orderReference: paidRef,
            refundId: "rf_big",
            amountRefunded: ABOVE_INT8,
            refundedAt: new Date().toISOString(),
          },
        }),
      "body.data.amountRefunded",
    );
    await refused(
      () =>
        t.webhook({
          type: "order.chargeback",
          data: { orderReference: paidRef, disputeId: "dp_big", status: "opened", amount: ABOVE_INT8 },
        }),
      "body.data.amount",
    );
  });

  it("a reward id above int8 in ids", async () => {
    await refused(
      () =>
        t.request("POST", "/v1/admin/rewards/approve", { key: t.keys.admin, body: { ids: [ABOVE_INT8] } }),
      "body.ids.0",
    );
    await refused(
      () =>
        t.request("POST", "/v1/admin/rewards/reject", {
          key: t.keys.admin,
          body: { ids: ["1", ABOVE_INT8], reason: "no" },
        }),
      "body.ids.1",
    );
  });

  it("a cursor above int8", async () => {
    await refused(
      () => t.request("GET", `/v1/admin/rewards?cursor=${ABOVE_INT8}`, { key: t.keys.admin }),
      "query.cursor",
    );
    await refused(
      () => t.request("GET", `/v1/me/rewards?cursor=${ABOVE_INT8}`, { key: t.memberToken("m_anna") }),
      "query.cursor",
    );
    await refused(
      () => t.request("GET", `/v1/vendor/settlements?cursor=${ABOVE_INT8}`, { key: vendorKey }),
      "query.cursor",
    );
  });

  it("a :payoutId above int8", async () => {
    await refused(
      () => t.request("POST", `/v1/admin/payouts/${ABOVE_INT8}/paid`, { key: t.keys.admin }),
      "path.payoutId",
    );
  });

  it("dates before year 1 in from/to", async () => {
    await refused(
      () => t.request("GET", "/v1/vendor/settlements?from=0000-01-01", { key: vendorKey }),
      "query.from",
    );
    await refused(
      () => t.request("GET", "/v1/vendor/summary?to=0000-06-01T00:00:00Z", { key: vendorKey }),
      "query.to",
    );
    await refused(
      () => t.request("GET", "/v1/admin/stats?from=0000-01-01&to=2026-01-01", { key: t.keys.admin }),
      "query.from",
    );
    // An offset can push a year-9999 timestamp past what toISOString/PostgreSQL dates round-trip.
    await refused(
      () =>
        t.request("GET", "/v1/admin/stats?to=9999-12-31T23:59:59-23:59", {
          key: t.keys.admin,
        }),
      "query.to",
    );
  });

  it("timestamps before year 1 in webhook events", async () => {
    await refused(
      () => t.webhook(paidEvent("ord_limits", "170000", { paidAt: "0000-01-01T00:00:00Z" })),
      "body.data.paidAt",
    );
    await refused(
      () =>
        t.webhook({
          type: "order.refunded",
          data: {
            orderReference: paidRef,
            refundId: "rf_old",
            amountRefunded: "1",
            refundedAt: "0000-01-01T00:00:00Z",
          },
        }),
      "body.data.refundedAt",
    );
  });

  it("\\u0000 in a JSON string, whatever the field", async () => {
    await refused(
      () =>
        t.request("POST", "/v1/members", {
          key: t.keys.integration,
          body: { memberId: "m_nul", displayName: "Nul\u0000Name" },
        }),
      "body.displayName",
    );
    await refused(
      () =>
        t.request("PATCH", "/v1/members/m_anna", {
          key: t.keys.integration,
          body: { displayName: "A\u0000" },
        }),
      "body.displayName",
    );
    const anna = await t.services.db
      .selectFrom("members")
      .select("display_name")
      .where("member_id", "=", "m_anna")
      .executeTakeFirstOrThrow();
    expect(anna.display_name).toBe("Anna");
    await refused(
      () =>
        t.request("PUT", "/v1/vendors/v_nul", {
          key: t.keys.integration,
          body: { name: "Bad\u0000Vendor", platformFeeBps: 0, holdDays: 0 },
        }),
      "body.name",
    );
    await refused(
      () =>
        t.request("POST", "/v1/admin/rewards/approve", {
          key: t.keys.admin,
          body: { ids: ["1"], note: "ok\u0000" },
        }),
      "body.note",
    );
    await refused(
      () =>
        t.request("POST", "/v1/admin/rewards/reject", {
          key: t.keys.admin,
          body: { ids: ["1"], reason: "\u0000" },
        }),
      "body.reason",
    );
    await refused(
      () =>
        t.request("POST", "/v1/members/m_anna/code", {
          key: t.keys.integration,
          body: { vanity: "ANNA\u0000X" },
        }),
      "body.vanity",
    );
    await refused(
      () =>
        t.request("POST", "/v1/orders", {
          key: t.keys.integration,
          body: orderBody("ord_nul", { refCode: "ANNA7F3K\u0000" }),
        }),
      "body.refCode",
    );
    await refused(
      () =>
        t.webhook({
          type: "order.refunded",
          data: {
            orderReference: paidRef,
            refundId: "rf\u0000x",
            amountRefunded: "1",
            refundedAt: new Date().toISOString(),
          },
        }),
      "body.data.refundId",
    );
    await refused(
      () =>
        t.webhook({
          type: "order.chargeback",
          data: { orderReference: paidRef, disputeId: "dp\u0000x", status: "opened", amount: "1" },
        }),
      "body.data.disputeId",
    );
  });

  it("%00 in a query string", async () => {
    await refused(() => t.request("GET", "/v1/referral?code=ANNA7F3K%00"), "query.code");
    await refused(
      () => t.request("GET", "/v1/admin/rewards?referrer=m_anna%00", { key: t.keys.admin }),
      "query.referrer",
    );
  });

  it("a disputeId so long that the derived refund id (dispute:<id>) breaks its CHECK", async () => {
    await refused(
      () =>
        t.webhook({
          type: "order.chargeback",
          data: { orderReference: paidRef, disputeId: "d".repeat(256), status: "lost", amount: "170000" },
        }),
      "body.data.disputeId",
    );
    // The longest disputeId accepted is recorded, its refund id included, at exactly the column's limit.
    const longest = "d".repeat(248);
    const res = await t.webhook({
      type: "order.chargeback",
      data: { orderReference: paidRef, disputeId: longest, status: "lost", amount: "170000" },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.result).toBe("recorded");
    const refund = await t.services.db
      .selectFrom("order_refunds")
      .select("refund_id")
      .where("order_reference", "=", paidRef)
      .executeTakeFirstOrThrow();
    expect(refund.refund_id).toHaveLength(256);
  });

  it("a webhook-id longer than webhook_events.event_id", async () => {
    await refused(
      () => t.webhook(paidEvent("ord_limits", "170000"), { id: `evt_${"x".repeat(253)}` }),
      "header.webhook-id",
    );
    // Checked before the signature: an unsigned request with an oversized id is a 400 too.
    const res = await t.request("POST", "/v1/webhooks/payments", {
      body: paidEvent("ord_limits", "170000"),
      headers: { "webhook-id": "x".repeat(257), "webhook-timestamp": "1", "webhook-signature": "v1,x" },
    });
    expect(res.status).toBe(400);
    // 256 characters is the column's limit, and it is accepted.
    const ok = await t.webhook(paidEvent("ord_limits", "170000"), { id: `evt_${"x".repeat(252)}` });
    expect(ok.status, ok.text).toBe(200);
  });
});
