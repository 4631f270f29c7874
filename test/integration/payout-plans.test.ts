import { sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB, useTestInstance } from "../support/harness.js";
import {
  captureStatements,
  explainCaptured,
  indexShapes,
  seqScans,
  unanchoredIndexScans,
} from "../support/plans.js";

/**
 * Payouts on a ledger with history: building the payouts and marking one paid reach `settlements`
 * through indexes. The candidates were a DISTINCT over every settlement (no index leads with the
 * status), and marking a payout paid moved its settlements by `payout_id`, which no index had (the
 * planner walked the whole (vendor_id, status, …) index for the status) — each a read of every
 * settlement ever written. 500 orders (1,000 settlements), ten of them due; the
 * statements are captured from the driver while the payouts are built and one is marked paid, then
 * EXPLAINed with the values they were sent with, after ANALYZE.
 */
const ORDERS = 500;
const DUE = 10;

describe.skipIf(TEST_DB !== "postgres")(`payouts on a ledger with history (${TEST_DB})`, () => {
  const t = useTestInstance();

  it(`build and mark paid without scanning ${ORDERS * 2} settlements`, async () => {
    for (let i = 0; i < ORDERS; i += 25) {
      const batch = Array.from({ length: 25 }, (_, j) => `ord_payout_plan_${i + j}`);
      const answers = await Promise.all(
        batch.map((ref) => t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))),
      );
      expect(answers.map((answer) => answer.status)).toEqual(batch.map(() => 200));
    }
    const due = Array.from({ length: DUE }, (_, i) => `ord_payout_plan_${i}`);
    await sql`UPDATE settlements SET status = 'due' WHERE order_reference = ANY(${due}::text[])`.execute(
      t.services.db,
    );
    await sql`ANALYZE settlements`.execute(t.services.db);

    const captured = await captureStatements(
      (text) => /settlements/.test(text),
      async () => {
        const built = await t.request("POST", "/v1/admin/payouts", { key: t.keys.admin, body: {} });
        expect(built.status).toBe(200);
        expect(built.body.payouts.length).toBeGreaterThan(0);
        const paid = await t.request("POST", `/v1/admin/payouts/${built.body.payouts[0].payoutId}/paid`, {
          key: t.keys.admin,
        });
        expect(paid.status).toBe(200);
        expect(paid.body.settlements).toBeGreaterThan(0);
      },
    );
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${t.schema}`);
      const indexes = await indexShapes(client, t.schema!);
      const scanned: string[] = [];
      for (const statement of captured) {
        const plan = await explainCaptured(client, statement);
        const whole = [...seqScans(plan), ...unanchoredIndexScans(plan, indexes)];
        if (whole.includes("settlements")) scanned.push(statement.text.slice(0, 160));
      }
      expect(captured.length).toBeGreaterThan(2);
      expect(scanned).toEqual([]);
    } finally {
      await client.end();
    }
  });
});
