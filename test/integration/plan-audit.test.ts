import { createServer, type Server } from "node:http";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { autoApproveRewards } from "../../src/jobs/auto-approve.js";
import { retentionOptions, runRetention } from "../../src/jobs/retention.js";
import { markSettlementsDue } from "../../src/jobs/settlements.js";
import { pruneVisits } from "../../src/ledger/prune-visits.js";
import { foldRollups } from "../../src/ledger/rollups/fold.js";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";
import {
  CONFIGURATION_TABLES,
  captureStatements,
  explainCaptured,
  indexShapes,
  type PlanNode,
  schemaTables,
  seqScans,
  tablesOver,
  unanchoredIndexScans,
} from "../support/plans.js";

/**
 * Every statement the service sends while it serves each kind of request reaches a table that has
 * grown only through a lookup — what hot-plans.test.ts holds for order.paid, for everything else:
 * refunds, disputes, signups, visits, approvals, rejections, mints, payouts, the dashboards, the jobs
 * and the outbound webhooks. A ledger with history (600 paid orders, refunds, disputes, signups,
 * visits, payouts and a mint) is analyzed, then one request of each kind is served while every
 * statement is captured from the driver; each is EXPLAINed with the values it was sent with, with
 * sequential scans and hash and merge joins priced out. Refused: a plan that still scans a table that
 * grows (every table but the configuration), or walks a whole index of a table of more than 100 rows
 * (an index scan that does not name the index's first column, outside a LIMIT) — the statement has no
 * index to find its rows by, and reads more every day. The statements of the triggers and functions
 * they fire are checked the same way: each captured statement is run again in a transaction that
 * rolls back, with auto_explain reporting every nested plan to the test's session (dropping
 * settlement_adjustments' `(settlement_id, …)` key made it refuse the settlement deltas trigger).
 */
const ORDERS = 600;

function refundEvent(orderReference: string, refundId: string, amountRefunded: string) {
  return {
    type: "order.refunded",
    data: { orderReference, refundId, amountRefunded, refundedAt: new Date().toISOString() },
  };
}
function chargebackEvent(orderReference: string, disputeId: string, status: string) {
  return { type: "order.chargeback", data: { orderReference, disputeId, status, amount: "170000" } };
}

describe.skipIf(TEST_DB !== "postgres")(`every request's plans on a ledger with history (${TEST_DB})`, () => {
  const t = useTestInstance({ env: { RATE_LIMIT_PUBLIC: "0", WEBHOOK_ALLOW_PRIVATE_TARGETS: "1" } });
  // The receiver of the outbound webhooks (an endpoint for every event type), answering 200.
  let receiver: Server | undefined;
  afterAll(() => new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve())));

  const ok = (response: { status: number; body: unknown }) =>
    expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
  const paid = async (refs: string[], extra: (ref: string) => Record<string, unknown> = () => ({})) => {
    for (let i = 0; i < refs.length; i += 25) {
      const batch = refs.slice(i, i + 25);
      const answers = await Promise.all(
        batch.map((ref) => t.webhook(paidEvent(ref, "170000", { order: orderBody(ref, extra(ref)) }))),
      );
      expect(answers.map((answer) => answer.status)).toEqual(batch.map(() => 200));
    }
  };
  const rewardIds = async (refs: string[]) =>
    (
      await t.services.db
        .selectFrom("referral_rewards")
        .select("id")
        .where("order_reference", "in", refs)
        .execute()
    ).map((row) => row.id.toString());

  /** Every request kind once: what the service sends for it is captured. */
  async function serveEachKind(tag: string) {
    const vendorKey = await t.keys.vendor("v_books");
    const admin = t.keys.admin;
    // order.paid: alone, grouped, and a returning buyer (whose first order is paid already).
    await paid([`ord_${tag}_single`]);
    await paid(Array.from({ length: 12 }, (_, i) => `ord_${tag}_group_${i}`));
    await paid([`ord_${tag}_again`], () => ({ buyerMemberId: "m_buyer_ord_hist_1" }));
    // Refunds (partial, then the rest), a dispute opened and lost, one opened and won.
    ok(await t.webhook(refundEvent(`ord_${tag}_group_0`, `re_${tag}_1`, "17000")));
    ok(await t.webhook(refundEvent(`ord_${tag}_group_0`, `re_${tag}_2`, "153000")));
    ok(await t.webhook(chargebackEvent(`ord_${tag}_group_1`, `dp_${tag}_1`, "opened")));
    ok(await t.webhook(chargebackEvent(`ord_${tag}_group_1`, `dp_${tag}_1`, "lost")));
    ok(await t.webhook(chargebackEvent(`ord_${tag}_group_2`, `dp_${tag}_2`, "opened")));
    ok(await t.webhook(chargebackEvent(`ord_${tag}_group_2`, `dp_${tag}_2`, "won")));
    // A signup with the code, a visit, the badge.
    ok(
      await t.request("POST", "/v1/members", {
        key: t.keys.integration,
        body: { memberId: `m_${tag}_signup`, refCode: "ANNA7F3K" },
      }),
    );
    expect((await t.request("GET", "/r/ANNA7F3K")).status).toBe(302);
    await t.services.visits?.flush();
    ok(await t.request("GET", "/v1/referral?code=ANNA7F3K"));
    // Review: approve two rewards, reject one; mint.
    const [a, b, c] = await rewardIds([`ord_${tag}_group_3`, `ord_${tag}_group_4`, `ord_${tag}_group_5`]);
    ok(await t.request("POST", "/v1/admin/rewards/approve", { key: admin, body: { ids: [a, b] } }));
    ok(
      await t.request("POST", "/v1/admin/rewards/reject", {
        key: admin,
        body: { ids: [c], reason: "plan audit" },
      }),
    );
    ok(await t.request("POST", "/v1/admin/mint", { key: admin, body: {} }));
    // Payouts: built, one marked paid.
    const built = await t.request("POST", "/v1/admin/payouts", { key: admin, body: {} });
    ok(built);
    if (built.body.payouts[0]) {
      ok(await t.request("POST", `/v1/admin/payouts/${built.body.payouts[0].payoutId}/paid`, { key: admin }));
    }
    // The pages' reads.
    for (const path of [
      "/v1/admin/rewards",
      "/v1/admin/settlements",
      "/v1/admin/payouts",
      "/v1/admin/stats",
      "/v1/admin/audit",
      "/v1/admin/mint-batches",
      "/v1/admin/reconcile",
    ]) {
      ok(await t.request("GET", path, { key: admin }));
    }
    for (const path of ["/v1/vendor/summary", "/v1/vendor/settlements"]) {
      ok(await t.request("GET", path, { key: vendorKey }));
    }
    ok(await t.request("GET", "/v1/me/rewards", { key: t.memberToken("m_anna") }));
    ok(await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") }));
    // The jobs (JOBS=0 here: each is run once by hand), and the outbound webhooks' delivery pass.
    const db = t.services.db;
    await markSettlementsDue(db);
    await autoApproveRewards(db, { holdDays: 1 });
    await pruneVisits(db);
    await foldRollups(db);
    await runRetention(db, retentionOptions(t.services.config));
    while ((await t.services.webhooks!.runOnce()) > 0) {
      // until the outbox is drained
    }
  }

  it(`reaches grown tables only through lookups (${ORDERS} orders of history)`, async () => {
    receiver = createServer((_req, res) => res.writeHead(200).end("ok"));
    await new Promise<void>((resolve) => receiver!.listen(0, "127.0.0.1", resolve));
    const port = (receiver.address() as { port: number }).port;
    ok(
      await t.request("POST", "/v1/admin/webhook-endpoints", {
        key: t.keys.admin,
        body: { url: `http://127.0.0.1:${port}/hook`, description: "plan audit receiver" },
      }),
    );
    // History: paid orders (one buyer each), refunds, disputes, signups, visits, payouts, a mint.
    const history = Array.from({ length: ORDERS }, (_, i) => `ord_hist_${i}`);
    await paid(history);
    for (let i = 0; i < 120; i++) {
      ok(await t.webhook(refundEvent(history[i]!, `re_hist_${i}`, "17000")));
    }
    for (let i = 120; i < 150; i++) {
      ok(await t.webhook(chargebackEvent(history[i]!, `dp_hist_${i}`, "opened")));
      if (i % 2) ok(await t.webhook(chargebackEvent(history[i]!, `dp_hist_${i}`, "won")));
    }
    for (let i = 0; i < 150; i++) {
      ok(
        await t.request("POST", "/v1/members", {
          key: t.keys.integration,
          body: { memberId: `m_hist_signup_${i}`, refCode: "ANNA7F3K" },
        }),
      );
    }
    await serveEachKind("warm");
    await sql`UPDATE settlements SET status = 'due' WHERE status = 'pending'
      AND order_reference LIKE 'ord_hist_%' AND order_reference < 'ord_hist_3'`.execute(t.services.db);
    ok(await t.request("POST", "/v1/admin/payouts", { key: t.keys.admin, body: {} }));

    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      const tables = await schemaTables(client, t.schema!);
      await client.query(`ANALYZE ${tables.join(", ")}`);
      // Every table but the configuration grows with traffic, however few rows it holds here: with
      // scans priced out, a scan of one means no index can find its rows. A walk of a whole index
      // is refused where the table holds more than 100 rows (on a few rows, walking a one-page index
      // can look cheaper than descending a better one).
      const growing = new Set(tables.filter((table) => !CONFIGURATION_TABLES.has(table)));
      const grown = await tablesOver(client, growing, 100);
      const { rows: sizes } = await client.query<{ n: number }>(
        "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM settlement_adjustments) AS n",
      );
      expect(Number(sizes[0]!.n)).toBeGreaterThan(ORDERS);

      const captured = await captureStatements(
        (text) =>
          !/^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|SHOW|LISTEN|UNLISTEN|NOTIFY|LOCK)\b/i.test(text),
        () => serveEachKind("audit"),
      );
      const distinct = [...new Map(captured.map((statement) => [statement.text, statement])).values()];
      const indexes = await indexShapes(client, t.schema!);
      // Not "is a scan cheapest at this size" (on a few pages it is, and the planner changes its mind
      // as the table grows) but "is there any other way": with scans and hash and merge joins priced
      // out, a plan that still scans, or walks a whole index, has no index to look its rows up by.
      await client.query("SET enable_seqscan = off");
      await client.query("SET enable_hashjoin = off");
      await client.query("SET enable_mergejoin = off");
      const refused: string[] = [];
      // A plan that scans a growing table, or walks a whole index of a grown one.
      const refuse = (plan: PlanNode, what: string) => {
        const whole = [
          ...seqScans(plan).filter((table) => growing.has(table)),
          ...unanchoredIndexScans(plan, indexes).filter((table) => grown.has(table)),
        ];
        if (whole.length) refused.push(`${[...new Set(whole)].join(", ")} ← ${what.slice(0, 200)}`);
      };
      const unexplained: string[] = [];
      for (const statement of distinct) {
        let plan: PlanNode;
        try {
          plan = await explainCaptured(client, statement);
        } catch (error) {
          unexplained.push(`${(error as Error).message}: ${statement.text.slice(0, 120)}`);
          continue;
        }
        refuse(plan, statement.text);
      }
      // The triggers' statements (rollups, netting, the journal's balance, the outbox) run inside the
      // server: each captured statement is run again in one transaction that rolls back (a savepoint
      // each; one that fails now — a duplicate key, a row already moved — fires nothing, and most
      // statement triggers fire on no rows too), with auto_explain reporting every nested plan to
      // this session.
      await client.query("LOAD 'auto_explain'");
      await client.query("SET auto_explain.log_min_duration = 0");
      await client.query("SET auto_explain.log_nested_statements = on");
      await client.query("SET auto_explain.log_format = json");
      await client.query("SET client_min_messages = log");
      const nested = new Map<string, PlanNode>();
      const onNotice = (notice: { message?: string }) => {
        const at = notice.message?.indexOf("plan:") ?? -1;
        if (at < 0) return;
        const logged = JSON.parse(notice.message!.slice(at + 5)) as { "Query Text": string; Plan: PlanNode };
        nested.set(logged["Query Text"], logged.Plan);
      };
      client.on("notice", onNotice);
      await client.query("BEGIN");
      try {
        for (const statement of distinct) {
          await client.query("SAVEPOINT replay");
          await client.query(statement.text, statement.values).catch(() => undefined);
          await client.query("ROLLBACK TO SAVEPOINT replay");
        }
      } finally {
        await client.query("ROLLBACK");
        client.off("notice", onNotice);
      }
      const top = new Set(distinct.map((statement) => statement.text));
      const triggered = [...nested].filter(([text]) => !top.has(text));
      for (const [text, plan] of triggered) {
        refuse(plan, `(trigger) ${text}`);
      }
      console.info(
        `plan audit: ${distinct.length} distinct statements, ${unexplained.length} not explainable; ` +
          `${triggered.length} statements of triggers and functions`,
      );
      expect(unexplained).toEqual([]);
      expect(triggered.length).toBeGreaterThan(5);
      expect(refused).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
