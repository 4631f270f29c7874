import { sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";
import {
  CONFIGURATION_TABLES,
  captureStatements,
  explainCaptured,
  indexShapes,
  type PlanNode,
  rowsRead,
  schemaTables,
  seqScans,
  tablesOver,
  unanchoredIndexScans,
} from "../support/plans.js";

/**
 * The plans of order.paid's hot statements (`src/ledger/statements/`) reach the growing tables only
 * through an index, whatever the statistics say. The planner has none on a young table (and none at
 * all where autovacuum is off, as on this project's PostgreSQL). `read-checkout-context` joined the
 * codes' owners to `members`, and its generic plan hashed the whole table on every event — a cost
 * that grew with every member (this test failed so). `mark-order-paid` reached `orders` through a CTE
 * only, and its generic plan scanned the orders still `created` in the ingest benchmark.
 *
 * The statements are captured from the driver while a real webhook is recorded alone and twelve are
 * recorded together (the grouped path's three statements), then their generic
 * plans EXPLAINed (PREPARE, `plan_cache_mode = force_generic_plan`, EXPLAIN EXECUTE with the same
 * parameters): while the schema is young and analyzed, grown since, and analyzed again.
 */
/** Every table grows with traffic but the configuration (the list used to name seven growing
 * tables instead, and missed `buyer_first_paid_orders`, which `insert-paid-orders` hashed whole on
 * every group). */
const growing = (table: string) => !CONFIGURATION_TABLES.has(table);
const ORDERS = 400;
const PAST_DELIVERIES = 20_000;
/** The most rows one statement may read from a growing table: a group of twelve writes fewer. */
const MAX_ROWS_READ = 100;

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
      "claim-with-contexts",
      "insert-order",
      "insert-paid-orders",
      "insert-paid-rows",
      "insert-rail-a",
      "insert-reward",
      "mark-order-paid",
      "read-checkout-context",
    ]);

    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      // The generic plan is the one that matters: after five executions a connection keeps it for as
      // long as it lives if it looked no worse than the custom ones — chosen while the tables were small.
      await client.query("SET plan_cache_mode = force_generic_plan");
      // The plan of captured statement `i` as the server would run it (`analyze`: run, and its actual
      // rows counted). EXECUTE takes its arguments as literals: each value as the driver sent it.
      const explain = (i: number, analyze = false): Promise<PlanNode> =>
        explainCaptured(client, captured[i]!, { analyze });
      const tables = () => schemaTables(client, t.schema!);
      // No sequential scan of a table that has grown past what a group writes (a few-row table, as
      // the codes and tiers of this test, is scanned: that is its cheapest plan, and it stays cheap).
      const scans = async () => {
        const grown = await tablesOver(client, await tables(), MAX_ROWS_READ);
        const indexes = await indexShapes(client, t.schema!);
        const found: Record<string, string[]> = {};
        for (const [i, statement] of captured.entries()) {
          const plan = await explain(i);
          found[statement.name] = [...seqScans(plan), ...unanchoredIndexScans(plan, indexes)].filter(
            (table) => growing(table) && grown.has(table),
          );
        }
        return found;
      };
      const none = Object.fromEntries(captured.map((statement) => [statement.name, []]));
      // Not scanning a table is not enough: an index scan on the first column of a key alone reads as
      // much (the stored webhook responses' update read every delivery of the provider so). Each
      // statement runs again, with its generic and its custom plan (EXPLAIN ANALYZE, rolled back): no
      // scan of a growing table may read more rows than a group writes.
      const read = async () => {
        const found: Record<string, string[]> = {};
        for (const mode of ["force_generic_plan", "force_custom_plan"]) {
          await client.query(`SET plan_cache_mode = ${mode}`);
          for (const [i, statement] of captured.entries()) {
            await client.query("BEGIN");
            try {
              const many = Object.entries(rowsRead(await explain(i, true))).filter(
                ([table, n]) => growing(table) && n > MAX_ROWS_READ,
              );
              found[statement.name] = [
                ...(found[statement.name] ?? []),
                ...many.map(([table, n]) => `${mode}: ${table} ${n} rows`),
              ];
            } finally {
              await client.query("ROLLBACK");
            }
          }
        }
        await client.query("SET plan_cache_mode = force_generic_plan");
        return found;
      };
      // Each state a connection may plan in and then keep the plan: the schema young and analyzed (a
      // first ANALYZE, or autovacuum's, when a few hundred rows are in: a scan of a small table looks
      // cheaper than index lookups, and with autovacuum off that plan stays while the table grows —
      // the stored responses' update scanned every delivery so in the ingest benchmark); grown since,
      // with those statistics; and analyzed again.
      const states: Record<string, Record<string, string[]>> = {};
      const check = async (state: string) => {
        const found = { ...(await scans()) };
        for (const [name, many] of Object.entries(await read()))
          found[name] = [...(found[name] ?? []), ...many];
        states[state] = found;
      };
      const analyze = async () => client.query(`ANALYZE ${(await tables()).join(", ")}`);
      await analyze();
      await check("young, analyzed");
      // The deliveries of a year before them: the table every event of every kind is stored in.
      await sql`INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response)
        SELECT 'payments', 'evt_past_' || i, md5(i::text), 'order.paid', '{"result":"recorded"}'
          FROM generate_series(1, ${PAST_DELIVERIES}::int) i`.execute(t.services.db);
      await check("grown, old statistics");
      await analyze();
      await check("grown, analyzed");
      expect(states).toEqual({
        "young, analyzed": none,
        "grown, old statistics": none,
        "grown, analyzed": none,
      });
    } finally {
      await client.end();
    }
  });
});
