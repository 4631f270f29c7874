import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";
import { captureStatements, type PlanNode, seqScans, sqlLiteral } from "../support/plans.js";

/**
 * `/v1/admin/stats` reads the unfolded rollup deltas of its window's whole days OR of its partial hours
 * (0017). With only `day` indexed the OR could not use an index, and every read scanned the whole delta
 * table — dead rows of earlier folds included, 48 ms at a 206k-order fill (docs/scaling.md). 0019
 * indexes `hour`. The statements are captured from the driver during a real stats request and
 * EXPLAINed with sequential scans disabled: a delta table still scanned then has no index for the read.
 */
const DELTAS = ["stats_day_deltas", "referrer_day_deltas"];

describe.skipIf(TEST_DB !== "postgres")(`stats reads reach the unfolded deltas by index (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("no statement of /v1/admin/stats needs a scan of a delta table", async () => {
    for (let i = 0; i < 5; i++) {
      const ref = `ord_stats_plan_${i}`;
      expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
    }
    const captured = await captureStatements(
      (text) => DELTAS.some((table) => text.includes(table)),
      async () => {
        const stats = await t.request("GET", "/v1/admin/stats", { key: t.keys.admin });
        expect(stats.status).toBe(200);
      },
    );
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
          sqlLiteral(client, statement.values[Number(n) - 1]),
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
