import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";
import { captureStatements, type PlanNode, seqScans, sqlLiteral } from "../support/plans.js";

/**
 * The plans of order.paid's hot statements (`src/ledger/statements/`) reach the growing tables only
 * through an index, whatever the statistics say. The planner has none on a young table (and none at
 * all where autovacuum is off, as on this project's PostgreSQL). `read-checkout-context` joined the
 * codes' owners to `members`, and its generic plan hashed the whole table on every event — a cost
 * that grew with every member (this test failed so). `mark-order-paid` reached `orders` through a CTE
 * only, and its generic plan scanned the orders still `created` in the ingest benchmark.
 *
 * The statements are captured from the driver while a real webhook is recorded alone and twelve are
 * recorded together (the grouped path's six statements), then their generic
 * plans EXPLAINed (PREPARE, `plan_cache_mode = force_generic_plan`, EXPLAIN EXECUTE with the same
 * parameters), before and after ANALYZE.
 */
const GROWING = [
  "orders",
  "members",
  "order_lines",
  "settlements",
  "referral_rewards",
  "journal_entries",
  "webhook_events",
];
const ORDERS = 400;

describe.skipIf(TEST_DB !== "postgres")(`hot statements' plans (${TEST_DB})`, () => {
  const t = useTestInstance();

  it(`order.paid's marked statements use indexes on the growing tables at ${ORDERS} orders`, async () => {
    // A ledger big enough that a scan costs more than an index lookup, filled through the service.
    for (let i = 0; i < ORDERS; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => `ord_plan_${i + j}`);
      const answers = await Promise.all(
        batch.map((ref) => t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))),
      );
      expect(answers.map((answer) => answer.status)).toEqual(batch.map(() => 200));
    }

    const MARKER = /^\/\* prepared:([a-z-]+) \*\//;
    const all = (
      await captureStatements(
        (text) => MARKER.test(text),
        async () => {
          const ref = "ord_plan_captured";
          const res = await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }));
          expect(res.status).toBe(200);
          expect(res.body.result).toBe("recorded");
          // Deliveries that arrive together share a grouped transaction (record-order-paid-batch.ts).
          const group = Array.from({ length: 12 }, (_, j) => `ord_plan_group_${j}`);
          const answers = await Promise.all(
            group.map((ref) => t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))),
          );
          expect(answers.map((answer) => answer.status)).toEqual(group.map(() => 200));
        },
      )
    ).map((statement) => ({ ...statement, name: MARKER.exec(statement.text)![1]! }));
    // One of each: the first captured.
    const captured = [...new Map(all.reverse().map((statement) => [statement.name, statement])).values()];
    expect(captured.map((statement) => statement.name).sort()).toEqual([
      "claim-webhooks",
      "insert-order",
      "insert-orders",
      "insert-paid-rows",
      "insert-rail-a",
      "insert-reward",
      "mark-order-paid",
      // "mark-orders-paid" is planned per group, never kept as a generic plan (see its file), and
      "read-checkout-context",
      "read-checkout-contexts",
      // "store-webhook-responses" too: both join many rows of a growing table.
    ]);

    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      // The generic plan is the one that matters: after five executions a connection keeps it for as
      // long as it lives if it looked no worse than the custom ones — chosen while the tables were small.
      await client.query("SET plan_cache_mode = force_generic_plan");
      const scans = async () => {
        const found: Record<string, string[]> = {};
        for (const [i, statement] of captured.entries()) {
          await client.query(`DEALLOCATE ALL`);
          await client.query(`PREPARE hot_${i} AS ${statement.text}`);
          // EXECUTE takes its arguments as literals: each value as the driver would have sent it.
          const args = statement.values.map((value) => sqlLiteral(client, value)).join(", ");
          const { rows } = await client.query(
            `EXPLAIN (FORMAT JSON) EXECUTE hot_${i}${args ? `(${args})` : ""}`,
          );
          const plan = (rows[0]["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]!.Plan;
          found[statement.name] = seqScans(plan).filter((table) => GROWING.includes(table));
        }
        return found;
      };
      const none = Object.fromEntries(captured.map((statement) => [statement.name, []]));
      expect(await scans()).toEqual(none);
      await client.query(`ANALYZE ${GROWING.join(", ")}`);
      expect(await scans()).toEqual(none);
    } finally {
      await client.end();
    }
  });
});
