import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * `/v1/admin/stats` reads the unfolded rollup deltas of its window's whole days OR of its partial hours
 * (0017). With only `day` indexed the OR could not use an index, and every read scanned the whole delta
 * table — dead rows of earlier folds included, 48 ms at a 206k-order fill (docs/scaling.md). 0019
 * indexes `hour`. The statements are captured from the driver during a real stats request and
 * EXPLAINed with sequential scans disabled: a delta table still scanned then has no index for the read.
 */
const DELTAS = ["stats_day_deltas", "referrer_day_deltas"];

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
function literal(client: pg.Client, value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  if (Array.isArray(value)) {
    const items = value.map((item) =>
      item === null ? "NULL" : `"${String(item).replace(/[\\"]/g, "\\$&")}"`,
    );
    return client.escapeLiteral(`{${items.join(",")}}`);
  }
  return client.escapeLiteral(String(value));
}

describe.skipIf(TEST_DB !== "postgres")(`stats reads reach the unfolded deltas by index (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("no statement of /v1/admin/stats needs a scan of a delta table", async () => {
    for (let i = 0; i < 5; i++) {
      const ref = `ord_stats_plan_${i}`;
      expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
    }
    const captured: Array<{ text: string; values: unknown[] }> = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const config = args[0] as { text?: string; values?: unknown[] } | string;
      const text = typeof config === "string" ? config : config?.text;
      if (text && DELTAS.some((table) => text.includes(table))) {
        const values = (typeof config === "string" ? args[1] : config.values) as unknown[] | undefined;
        captured.push({ text, values: values ?? [] });
      }
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      const stats = await t.request("GET", "/v1/admin/stats", { key: t.keys.admin });
      expect(stats.status).toBe(200);
    } finally {
      pg.Client.prototype.query = original;
    }
    expect(captured.length).toBeGreaterThanOrEqual(2);

    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      await client.query("SET enable_seqscan = off");
      const scanned: string[] = [];
      for (const statement of captured) {
        // Parameters inlined as literals: the plan is the one the values imply, as a custom plan's is.
        const text = statement.text.replace(/\$(\d+)/g, (_, n) =>
          literal(client, statement.values[Number(n) - 1]),
        );
        const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${text}`);
        const plan = (rows[0]["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]!.Plan;
        scanned.push(...seqScans(plan).filter((table) => DELTAS.includes(table)));
      }
      expect(scanned).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
