import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import {
  orderBody,
  paidEvent,
  TEST_DATABASE_URL,
  TEST_DB,
  type TestInstance,
  useTestInstance,
} from "../support/harness.js";

/**
 * Incremental reconcile (issue 12, item 3): GET /v1/admin/reconcile checks what changed since the
 * previous run and stores each run; ?full=true checks everything. A mismatch planted in changed data
 * is found by the incremental run, one planted outside the window only by the full run, and a
 * transaction that began before a run's cutoff but committed after it is still checked by the next.
 */
describe(`incremental reconcile (${TEST_DB})`, () => {
  const t: TestInstance = useTestInstance();
  const run = async (full = false) => {
    const response = await t.request("GET", `/v1/admin/reconcile${full ? "?full=true" : ""}`, {
      key: t.keys.admin,
    });
    expect(response.status).toBe(200);
    return response.body as {
      ok: boolean;
      mode: string;
      runId: string;
      cutoff: string;
      mismatches: Array<{ check: string; subject: string }>;
      checked: Record<string, number | null>;
    };
  };
  const found = (report: Awaited<ReturnType<typeof run>>) =>
    report.mismatches.map((m) => `${m.check} ${m.subject}`);
  const pay = async (ref: string) =>
    expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
  const tamper = (ref: string, by: number) =>
    sql`UPDATE settlements SET referral_commission = referral_commission + ${by}, net = net - ${by}
        WHERE order_reference = ${ref} AND vendor_id = 'v_games'`.execute(t.services.db);

  it("the first run is full, later ones check only the window; every run is stored", async () => {
    for (let i = 0; i < 5; i++) await pay(`ord_ri_old_${i}`);
    const first = await run();
    expect(first).toMatchObject({ ok: true, mode: "full" });
    // A run's window starts at the previous run's cutoff, which a transaction still in flight then
    // (another test file's, on a shared database) pulls earlier: what began after it is checked again.
    // So the orders a run checks are those with a journal row stamped at or after that cutoff.
    const ordersSince = async (cutoff: string) =>
      Number(
        (
          await sql<{ n: string }>`SELECT count(DISTINCT order_reference)::text AS n FROM journal_entries
            WHERE created_at >= ${new Date(cutoff)} AND order_reference IS NOT NULL`.execute(t.services.db)
        ).rows[0]!.n,
      );
    const second = await run();
    expect(second).toMatchObject({ ok: true, mode: "incremental" });
    expect(second.checked.orders).toBe(await ordersSince(first.cutoff));
    await pay("ord_ri_new_0");
    const third = await run();
    expect(third).toMatchObject({ ok: true, mode: "incremental" });
    expect(third.checked.orders).toBe(await ordersSince(second.cutoff));
    expect(third.checked.orders).toBeGreaterThanOrEqual(1);
    const stored = await sql<{ id: string; mode: string; ok: boolean; report: { checked: unknown } }>`
      SELECT id::text AS id, mode, ok, report FROM reconcile_runs ORDER BY id`.execute(t.services.db);
    expect(stored.rows.map((row) => [row.id, row.mode, row.ok])).toEqual([
      [first.runId, "full", true],
      [second.runId, "incremental", true],
      [third.runId, "incremental", true],
    ]);
    expect(stored.rows[2]?.report.checked).toEqual(third.checked);
  });

  it("finds a mismatch planted in changed data; one outside the window only --full finds", async () => {
    await pay("ord_ri_new_1");
    await tamper("ord_ri_new_1", 1);
    await tamper("ord_ri_old_0", 1);
    const incremental = await run();
    expect(incremental.ok).toBe(false);
    expect(found(incremental)).toContain("rails order ord_ri_new_1");
    expect(found(incremental)).not.toContain("rails order ord_ri_old_0");
    const full = await run(true);
    expect(full.mode).toBe("full");
    expect(found(full)).toEqual(
      expect.arrayContaining(["rails order ord_ri_new_1", "rails order ord_ri_old_0"]),
    );
    await tamper("ord_ri_new_1", -1);
    await tamper("ord_ri_old_0", -1);
    expect((await run(true)).ok).toBe(true);
    expect((await run()).ok).toBe(true);
  });

  it.skipIf(TEST_DB !== "postgres")(
    "a transaction begun before a run's cutoff and committed after it is checked by the next run",
    async () => {
      await pay("ord_ri_late");
      await run();
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${t.schema}"`);
        await client.query("BEGIN");
        await client.query("SELECT now()"); // the transaction is in flight from here
        const during = await run(); // its cutoff is no later than the start of that transaction
        expect(during.ok).toBe(true);
        // The late transaction: a journal transaction for the order and a planted rails mismatch.
        const txn = randomUUID();
        await client.query(
          `INSERT INTO journal_entries (txn_id, event, order_reference, account, asset, amount)
           VALUES ($1, 'test.late', 'ord_ri_late', 'suspense:late', 'UAH', 1),
                  ($1, 'test.late', 'ord_ri_late', 'suspense:other', 'UAH', -1)`,
          [txn],
        );
        await client.query(
          `UPDATE settlements SET referral_commission = referral_commission + 1, net = net - 1
           WHERE order_reference = 'ord_ri_late' AND vendor_id = 'v_games'`,
        );
        await client.query("COMMIT");
      } finally {
        await client.end();
      }
      const after = await run();
      expect(found(after)).toContain("rails order ord_ri_late");
      await tamper("ord_ri_late", -1);
    },
  );

  it("checks rewards minted in the window against their chain logs", async () => {
    await pay("ord_ri_mint");
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select("id")
      .where("order_reference", "=", "ord_ri_mint")
      .executeTakeFirstOrThrow();
    await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [reward.id.toString()] },
    });
    expect(
      (await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} })).body.minted,
    ).toBeGreaterThan(0);
    const clean = await run();
    expect(clean.ok).toBe(true);
    expect(clean.checked.chainLogs).toBeGreaterThan(0);
    // The database now disagrees with the chain about the recipient of a reward minted in the window.
    await sql`UPDATE referral_rewards SET wallet_address = ${`0x${"ab".repeat(20)}`}, minted_at = now()
              WHERE id = ${reward.id}`.execute(t.services.db);
    const report = await run();
    expect(found(report)).toContain(`chain reward ${reward.id}`);
    await run(true); // the full check too
  });
});
