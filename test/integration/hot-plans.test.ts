import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * The plans of order.paid's hot statements (`src/ledger/statements/`) reach the growing tables only
 * through an index, whatever the statistics say. The planner has none on a young table (and none at
 * all where autovacuum is off, as on this project's PostgreSQL). `read-checkout-context` joined the
 * codes' owners to `members`, and its generic plan hashed the whole table on every event — a cost
 * that grew with every member (this test failed so). `mark-order-paid` reached `orders` through a CTE
 * only, and its generic plan scanned the orders still `created` in the ingest benchmark.
 *
 * The statements are captured from the driver while a real webhook is recorded, then their generic
 * plans EXPLAINed (PREPARE, `plan_cache_mode = force_generic_plan`, EXPLAIN EXECUTE with the same
 * parameters), before and after ANALYZE.
 */
/** A parameter as text, the way the driver sends it (lists as array literals). */
function prepareValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const items = value.map((item) =>
      item === null ? "NULL" : `"${String(item).replace(/[\\"]/g, "\\$&")}"`,
    );
    return `{${items.join(",")}}`;
  }
  return String(value);
}
const GROWING = ["orders", "members", "order_lines", "settlements", "referral_rewards", "journal_entries"];
const ORDERS = 400;

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, found: string[] = []): string[] {
  if (node["Node Type"] === "Seq Scan" && node["Relation Name"]) found.push(node["Relation Name"]);
  for (const child of node.Plans ?? []) seqScans(child, found);
  return found;
}

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

    const captured: Array<{ name: string; text: string; values: unknown[] }> = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const config = args[0] as { text?: string; values?: unknown[] } | string;
      const text = typeof config === "string" ? config : config?.text;
      const marker = text ? /^\/\* prepared:([a-z-]+) \*\//.exec(text) : null;
      if (marker && text) {
        const values = (typeof config === "string" ? args[1] : config.values) as unknown[];
        captured.push({ name: marker[1]!, text, values: values ?? [] });
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const ref = "ord_plan_captured";
      const res = await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }));
      expect(res.status).toBe(200);
      expect(res.body.result).toBe("recorded");
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(captured.map((statement) => statement.name).sort()).toEqual([
      "insert-order",
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
      const scans = async () => {
        const found: Record<string, string[]> = {};
        for (const [i, statement] of captured.entries()) {
          await client.query(`DEALLOCATE ALL`);
          await client.query(`PREPARE hot_${i} AS ${statement.text}`);
          // EXECUTE takes its arguments as literals: each value as the driver would have sent it.
          const args = statement.values
            .map((value) => {
              const text = prepareValue(value);
              return text === null ? "NULL" : client.escapeLiteral(text);
            })
            .join(", ");
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
