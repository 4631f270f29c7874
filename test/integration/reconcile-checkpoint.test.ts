import { randomBytes, randomUUID } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type CompiledQuery, sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fillConfig, fillOrders, seedReferrers } from "../../scripts/bench/fill-orders.js";
import { asDb, type Connection, connect, type Db } from "../../src/db/connect.js";
import { MIGRATIONS_DIR, migrate } from "../../src/db/migrate.js";
import { runReconcile } from "../../src/ledger/reconcile/runs.js";
import { seedCatalogRows } from "../support/catalog.js";
import { TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";

/**
 * The incremental reconcile's journal checkpoint (migration 0018, src/ledger/reconcile/checkpoint.ts):
 * a run reads the window, not the history of the accounts it touches; the checkpoint equals the sum of
 * the rows stamped before its cutoff, also with a transaction in flight across a cutoff; what the
 * incremental run used to catch it still catches; and a ledger migrated to 0018 with runs stored gets
 * its checkpoint on the first run after.
 */
describe(`reconcile checkpoint, migration 0018 (${TEST_DB})`, () => {
  let connection: Connection;
  let codes: string[];
  const schema = TEST_DB === "postgres" ? `t_${randomBytes(6).toString("hex")}` : undefined;
  const before = mkdtempSync(path.join(tmpdir(), "twinrail-0017-"));
  const plan = { referrers: 4, batch: 10, workers: 1, days: 0, refundEvery: 7 };
  const fill = (prefix: string, orders: number) =>
    fillOrders(connection.db, fillConfig(), codes, { ...plan, prefix, orders });
  const found = (run: Awaited<ReturnType<typeof runReconcile>>) =>
    run.mismatches.map((m) => `${m.check} ${m.subject}`);

  beforeAll(async () => {
    for (const name of readdirSync(MIGRATIONS_DIR).filter((n) => n < "0018"))
      cpSync(path.join(MIGRATIONS_DIR, name), path.join(before, name));
    connection = await connect(TEST_DB === "postgres" ? { databaseUrl: TEST_DATABASE_URL, schema } : {});
  });
  afterAll(async () => {
    await connection?.close();
    rmSync(before, { recursive: true, force: true });
    if (schema) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  /** The checkpoint against the rows: Σ per account of every row stamped before its cutoff. */
  async function expectCheckpointExact(db: Db) {
    const { rows } = await sql<{ account: string; asset: string; stored: string; rows: string }>`
      WITH cp AS (SELECT cutoff FROM reconcile_checkpoint),
      s AS (SELECT account, asset, sum(amount) AS total FROM journal_entries
            WHERE created_at < (SELECT cutoff FROM cp) GROUP BY account, asset)
      SELECT coalesce(b.account, s.account) AS account, coalesce(b.asset, s.asset) AS asset,
             coalesce(b.balance, 0)::text AS stored, coalesce(s.total, 0)::text AS rows
      FROM reconcile_balances b FULL JOIN s ON s.account = b.account AND s.asset = b.asset`.execute(db);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.stored !== row.rows)).toEqual([]);
  }

  it("a ledger migrated to 0018 with runs stored gets its checkpoint on the first incremental run", async () => {
    const db = connection.db;
    await migrate(db, before);
    await seedCatalogRows(db);
    codes = await seedReferrers(db, "cp", plan.referrers, 2);
    await fill("cp_old", 30);
    // A run as the code before 0018 stored it: the cutoff, no checkpoint.
    await sql`
      INSERT INTO reconcile_runs (mode, window_from, cutoff, ok, mismatch_count, report, started_at)
      VALUES ('full', NULL, clock_timestamp(), true, 0, '{}'::jsonb, clock_timestamp())`.execute(db);
    await fill("cp_between", 5);
    await migrate(db);
    expect((await sql`SELECT * FROM reconcile_checkpoint`.execute(db)).rows).toEqual([]);
    const first = await runReconcile(db, null);
    expect(first).toMatchObject({ ok: true, mode: "incremental" });
    expect(first.checked.orders).toBeGreaterThanOrEqual(5);
    await expectCheckpointExact(db);
    expect((await runReconcile(db, null, { full: true })).ok).toBe(true);
    await expectCheckpointExact(db);
  });

  it("reads the window's rows: journal rows read follow the window, not the accounts' history", async () => {
    const db = connection.db;
    await fill("cp_hist", 60); // history on the same referrers and vendors
    await runReconcile(db, null);
    await fill("cp_win", 2);
    const statements: CompiledQuery[] = [];
    const executor = db.getExecutor();
    const recording = asDb(
      db.withPlugin({
        transformQuery: ({ node, queryId }) => {
          statements.push(executor.compileQuery(node, queryId));
          return node;
        },
        transformResult: async ({ result }) => result,
      }),
    );
    const run = await runReconcile(recording, null);
    expect(run).toMatchObject({ ok: true, mode: "incremental" });
    const { rows: counted } = await sql<{ window: string; total: string }>`
      SELECT count(*) FILTER (WHERE created_at >= ${new Date(run.windowFrom!)})::text AS window,
             count(*)::text AS total FROM journal_entries`.execute(db);
    const windowRows = Number(counted[0]!.window);
    const historyRows = Number(counted[0]!.total) - windowRows;
    expect(windowRows * 5).toBeLessThan(historyRows); // else the bound below proves nothing

    // Every statement of the run again under EXPLAIN ANALYZE (rolled back): rows read per table. The
    // tables here are small enough for a sequential scan to be cheapest, so sequential scans are
    // priced out: what is measured is that every statement has a path that reads only the window.
    const read = new Map<string, number>();
    const perStatement: Array<[number, string]> = [];
    type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] };
    const walk = (node: PlanNode) => {
      const relation = node["Relation Name"];
      if (typeof relation === "string") {
        const rows =
          Number(node["Actual Rows"] ?? 0) +
          Number(node["Rows Removed by Filter"] ?? 0) +
          Number(node["Rows Removed by Index Recheck"] ?? 0);
        read.set(relation, (read.get(relation) ?? 0) + rows * Number(node["Actual Loops"] ?? 1));
      }
      for (const child of node.Plans ?? []) walk(child);
    };
    for (const statement of statements) {
      if (!/^\s*(select|with|insert|update|delete)\b/i.test(statement.sql)) continue;
      await db
        .transaction()
        .execute(async (trx) => {
          await sql`SET LOCAL enable_seqscan = off`.execute(trx);
          const journalBefore = read.get("journal_entries") ?? 0;
          const explained = await trx.executeQuery<Record<string, unknown>>({
            ...statement,
            sql: `EXPLAIN (ANALYZE, FORMAT JSON) ${statement.sql}`,
          });
          const value = Object.values(explained.rows[0]!)[0];
          const plan = (typeof value === "string" ? JSON.parse(value) : value) as Array<{ Plan: PlanNode }>;
          walk(plan[0]!.Plan);
          perStatement.push([(read.get("journal_entries") ?? 0) - journalBefore, statement.sql.slice(0, 80)]);
          throw new Rollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
        });
    }
    // The window is read by the change list, the balance of its transactions, the referrer and the
    // vendor checks, and the checkpoint's advance: at most five times its rows.
    expect(read.get("journal_entries") ?? 0, JSON.stringify(perStatement)).toBeLessThanOrEqual(
      5 * windowRows,
    );
    // Rewards by the window's orders only (the live sum comes from the referrer rollup).
    expect(read.get("referral_rewards") ?? 0).toBeLessThanOrEqual(2 * Number(run.checked.orders) + 2);
    await expectCheckpointExact(db);
  });

  it("still catches a hand-edited old reward of a referrer the window touches, and a bad checkpoint", async () => {
    const db = connection.db;
    await runReconcile(db, null);
    const old = await db
      .selectFrom("referral_rewards")
      .select(["id", "referrer_member_id"])
      .where("order_reference", "like", "ord_cp_old_%")
      .where("status", "=", "pending_approval")
      .orderBy("id")
      .executeTakeFirstOrThrow();
    await sql`UPDATE referral_rewards SET status = 'rejected' WHERE id = ${old.id}`.execute(db);
    // A new order of every referrer: each one's accounts move in the next window.
    await fill("cp_touch", plan.referrers);
    const incremental = await runReconcile(db, null);
    expect(found(incremental)).toContain(`reward_liability referrer ${old.referrer_member_id}`);
    await sql`UPDATE referral_rewards SET status = 'pending_approval' WHERE id = ${old.id}`.execute(db);
    expect((await runReconcile(db, null, { full: true })).ok).toBe(true);

    // A checkpoint that disagrees with the rows shows in the next run that touches the account;
    // --full rebuilds it from every row.
    const account = `liability:rewards:${old.referrer_member_id}`;
    await sql`UPDATE reconcile_balances SET balance = balance - 5 WHERE account = ${account}`.execute(db);
    await fill("cp_touch2", plan.referrers);
    expect(found(await runReconcile(db, null))).toContain(
      `reward_liability referrer ${old.referrer_member_id}`,
    );
    expect((await runReconcile(db, null, { full: true })).ok).toBe(true);
    await expectCheckpointExact(db);
    expect((await runReconcile(db, null)).ok).toBe(true);
  });

  it.skipIf(TEST_DB !== "postgres")(
    "a journal transaction in flight across a cutoff is in the next window and in the checkpoint once",
    async () => {
      const db = connection.db;
      await runReconcile(db, null);
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${schema}"`);
        await client.query("BEGIN");
        await client.query("SELECT now()"); // in flight from here: the next cutoff is no later
        await fill("cp_during", 2);
        const during = await runReconcile(db, null);
        expect(during.ok).toBe(true);
        await expectCheckpointExact(db);
        // The late transaction moves a vendor payable without a settlement: a planted mismatch.
        const txn = randomUUID();
        await client.query(
          `INSERT INTO journal_entries (txn_id, event, account, asset, amount)
           VALUES ($1, 'test.late', 'payable:vendor:v_games', 'UAH', -7), ($1, 'test.late', 'suspense:late', 'UAH', 7)`,
          [txn],
        );
        await client.query("COMMIT");
      } finally {
        await client.end();
      }
      const after = await runReconcile(db, null);
      expect(found(after)).toContain("vendor_payable payable:vendor:v_games UAH");
      await expectCheckpointExact(db);
      // Reversed by a balanced transaction: clean again, incremental and full.
      const txn = randomUUID();
      await sql`
        INSERT INTO journal_entries (txn_id, event, account, asset, amount)
        VALUES (${txn}, 'test.late', 'payable:vendor:v_games', 'UAH', 7),
               (${txn}, 'test.late', 'suspense:late', 'UAH', -7)`.execute(db);
      expect((await runReconcile(db, null)).ok).toBe(true);
      expect((await runReconcile(db, null, { full: true })).ok).toBe(true);
      await expectCheckpointExact(db);
    },
  );
});

class Rollback extends Error {}
