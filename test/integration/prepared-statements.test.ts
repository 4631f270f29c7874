import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * order.paid's statements run as named prepared statements on PostgreSQL (parsed and planned once per
 * connection): after a few events every pooled connection that served one holds them, and the events
 * are recorded exactly as before. PGlite has no server-side statements to look at.
 */
describe.skipIf(TEST_DB !== "postgres")(`prepared statements on the hot path (${TEST_DB})`, () => {
  const t = useTestInstance();

  it("order.paid's five marked statements are prepared on the connections that ran them", async () => {
    for (let i = 0; i < 6; i++) {
      const ref = `ord_prep_${i}`;
      const res = await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }));
      expect(res.status).toBe(200);
      expect(res.body.result).toBe("recorded");
    }
    // Each connection sees only its own statements; ask every idle connection of the pool at once.
    const names = new Set<string>();
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const { rows } = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements`.execute(
          t.services.db,
        );
        for (const row of rows) names.add(row.name.replace(/_[0-9a-f]{16}$/, ""));
      }),
    );
    expect([...names].sort()).toEqual(
      expect.arrayContaining([
        "tw_insert_order",
        "tw_insert_rail_a",
        "tw_insert_reward",
        "tw_mark_order_paid",
        "tw_read_checkout_context",
      ]),
    );
  });
});
