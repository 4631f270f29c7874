import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { reconcileWindow } from "../../src/ledger/reconcile/incremental.js";
import { TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * An incremental reconcile whose window holds more orders than the wire protocol has parameters
 * (65,535): its lists used to be `IN ($1, $2, …)`, one parameter per order, and at about 100k orders
 * the run failed with "bind message has 34465 parameter formats". Every list is one array parameter
 * now. The window is filled with balanced journal transactions of 70,000 distinct references.
 */
describe(`incremental reconcile over a window of 70,000 orders (${TEST_DB})`, () => {
  const t = useTestInstance({ seed: false });

  it("checks every journal transaction in one run", async () => {
    const from = new Date(Date.now() - 60_000);
    await sql`
      INSERT INTO journal_entries (txn_id, event, order_reference, account, asset, amount)
      SELECT md5('window-' || n)::uuid, 'order.paid', 'ord_window_' || n, a.account, 'UAH', a.amount
        FROM generate_series(1, 70000) AS n
       CROSS JOIN (VALUES ('cash:platform', 100), ('suspense:payment_difference', -100)) AS a(account, amount)`.execute(
      t.services.db,
    );
    const result = await reconcileWindow(t.services.db, null, { from, fromBlock: null });
    expect(result.checked.journalTransactions).toBe(70_000);
    expect(result.mismatches).toEqual([]);
  }, 120_000);
});
