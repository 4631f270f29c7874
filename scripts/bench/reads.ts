/**
 * Reads at scale: p95 over HTTP of the admin queue (first page and a deep keyset page), /v1/admin/stats,
 * /v1/vendor/summary and /v1/me of the viral referrer; an incremental reconcile after 1,000 new orders;
 * the vendor CSV in rows/s — against the service in its own process on PostgreSQL. Baselines from the
 * same run: the scanning queries the rollups replaced (readAdminStats, vendorSummary, the /v1/me
 * counts), the queue page read with OFFSET, and the full reconcile (up to 150k orders: it holds every
 * row in memory).
 *
 *   npx tsx scripts/bench/reads.ts --quick                 # fills 300 orders itself, 200 new (CI)
 *   npx tsx scripts/bench/reads.ts --orders 20000          # fills its own scratch schema
 *   npx tsx scripts/bench/reads.ts --schema bench_year     # a schema filled by scripts/bench/fill.ts
 *
 * Exits 1 when a request is not 200 or the CSV does not carry every settlement.
 */
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { readAdminStats } from "../../src/ledger/queries/admin-stats.js";
import { readMemberCountsScan } from "../../src/ledger/queries/member-dashboard.js";
import { runReconcile } from "../../src/ledger/reconcile/runs.js";
import { reconcile } from "../../src/ledger/reconcile.js";
import { foldRollups } from "../../src/ledger/rollups/fold.js";
import { vendorSummary } from "../../src/ledger/vendor-statements.js";
import { signMemberToken } from "../../src/lib/member-token.js";
import { seedCatalogRows } from "../../test/support/catalog.js";
import { fillConfig, fillOrders, seedReferrers } from "./fill-orders.js";
import {
  analyzeSchema,
  args,
  BENCH_DATABASE_URL,
  dropSchema,
  fmt,
  numberArg,
  quick,
  scratchSchema,
  serviceEnv,
  startService,
} from "./support.js";

const schemaIndex = args.indexOf("--schema");
const GIVEN = schemaIndex >= 0 ? args[schemaIndex + 1] : undefined;
const ORDERS = numberArg("orders", quick ? 300 : 20_000);
const SAMPLES = numberArg("samples", quick ? 10 : 200);
/** Orders added between two incremental reconciles (the issue's figure: 1,000). */
const NEW_ORDERS = quick ? 200 : 1000;

const p95 = (ms: number[]) =>
  [...ms].sort((a, b) => a - b)[Math.min(ms.length - 1, Math.floor(ms.length * 0.95))]!;

async function time<T>(n: number, fn: () => Promise<T>) {
  const ms: number[] = [];
  let last: T | undefined;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    last = await fn();
    ms.push(performance.now() - t0);
  }
  return { p95: p95(ms), last: last as T };
}

async function main() {
  const schema = GIVEN ?? scratchSchema("bench_reads");
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema, poolSize: 4 });
  const db = connection.db;
  const memberSecret = randomBytes(32).toString("hex");
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  let failed = false;
  try {
    await migrate(db);
    let codes: string[];
    if (!GIVEN) {
      await seedCatalogRows(db);
      await runReconcile(db, null, { full: true });
      codes = await seedReferrers(db, "fill", quick ? 20 : 200, 2);
      await fillOrders(db, fillConfig(), codes, {
        prefix: "fill",
        referrers: codes.length,
        orders: ORDERS,
        batch: 100,
        workers: 2,
        days: 365,
        refundEvery: 50,
      });
      // Statistics, as autovacuum would have gathered them long before (it is off on some machines;
      // fill.ts does the same): without them a young table's plans are guesses.
      await analyzeSchema(db);
    } else {
      const rows = await sql<{ code: string }>`
        SELECT code FROM referral_codes WHERE owner_member_id LIKE 'm_fill_r%' AND active
        ORDER BY length(owner_member_id), owner_member_id`.execute(db);
      codes = rows.rows.map((row) => row.code);
    }
    await foldRollups(db);
    const counts = (
      await sql<{ orders: string; settlements: string; pending: string; journal: string }>`
        SELECT (SELECT count(*) FROM orders)::text AS orders,
               (SELECT count(*) FROM settlements WHERE vendor_id = 'v_books')::text AS settlements,
               (SELECT count(*) FROM referral_rewards WHERE status = 'pending_approval')::text AS pending,
               (SELECT count(*) FROM journal_entries)::text AS journal`.execute(db)
    ).rows[0]!;
    const adminKey = (await createApiKey(db, SYSTEM, { role: "admin" })).key;
    const vendorKey = (await createApiKey(db, SYSTEM, { role: "vendor", vendorId: "v_books" })).key;
    const viral = "m_fill_r0";
    service = await startService(
      serviceEnv(schema, {
        MEMBER_TOKEN_SECRET: memberSecret,
      }),
    );
    const url = service.url;
    const get = async (path: string, key: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${key}` } });
      const body = await response.text();
      if (response.status !== 200) {
        console.error(`${path}: ${response.status} ${body.slice(0, 300)}`);
        failed = true;
      }
      return body;
    };
    const depth = Math.floor(Number(counts.pending) / 2);
    const deep = await sql<{ id: string }>`
      SELECT id::text AS id FROM referral_rewards WHERE status = 'pending_approval'
      ORDER BY id DESC OFFSET ${depth} LIMIT 1`.execute(db);
    const cursor = deep.rows[0]?.id;
    const queue = "/v1/admin/rewards?status=pending_approval&limit=50";
    const token = signMemberToken(memberSecret, viral);
    for (const path of [queue, "/v1/admin/stats"]) await get(path, adminKey); // warm-up
    const rows: Array<[string, number, string, string]> = [];
    const row = (name: string, ms: number, baseline: string, target: string) =>
      rows.push([name, ms, baseline, target]);

    const first = await time(SAMPLES, () => get(queue, adminKey));
    const deepPage = await time(SAMPLES, () => get(`${queue}${cursor ? `&cursor=${cursor}` : ""}`, adminKey));
    const offset = await time(Math.min(SAMPLES, 10), () =>
      sql`SELECT r.*, m.display_name FROM referral_rewards r JOIN members m ON m.member_id = r.referrer_member_id
          WHERE r.status = 'pending_approval' ORDER BY r.id DESC OFFSET ${depth} LIMIT 51`.execute(db),
    );
    row("admin queue, first page", first.p95, "-", "< 50 ms");
    row(
      `admin queue, page at ${depth}`,
      deepPage.p95,
      `OFFSET ${depth}: ${fmt(offset.p95, 1)} ms (SQL only)`,
      "< 50 ms",
    );

    const now = new Date();
    const range = { from: new Date(now.getTime() - 28 * 86_400_000), to: now };
    const statsScan = await time(3, () =>
      readAdminStats(db, {
        ...range,
        firstDay: range.from.toISOString().slice(0, 10),
        lastDay: new Date(now.getTime() - 1).toISOString().slice(0, 10),
      }),
    );
    const stats = await time(SAMPLES, () => get("/v1/admin/stats", adminKey));
    row("/v1/admin/stats (28 days)", stats.p95, `scan: ${fmt(statsScan.p95, 1)} ms`, "< 50 ms");
    const summaryScan = await time(3, () => vendorSummary(db, "v_books", {}));
    const summary = await time(SAMPLES, () => get("/v1/vendor/summary", vendorKey));
    row("/v1/vendor/summary (all time)", summary.p95, `scan: ${fmt(summaryScan.p95, 1)} ms`, "< 50 ms");
    const meScan = await time(3, () => readMemberCountsScan(db, viral));
    const me = await time(SAMPLES, () => get("/v1/me", token));
    row(`/v1/me (viral referrer)`, me.p95, `scan counts: ${fmt(meScan.p95, 1)} ms`, "< 50 ms");

    // Reconcile: a checkpoint now, then NEW_ORDERS new orders, then the incremental run over HTTP.
    await get("/v1/admin/reconcile", adminKey);
    await fillOrders(db, fillConfig(), codes, {
      prefix: `new_${randomBytes(3).toString("hex")}`,
      referrers: codes.length,
      orders: NEW_ORDERS,
      batch: 100,
      workers: 2,
      days: 0,
      refundEvery: 50,
    });
    const t0 = performance.now();
    const report = JSON.parse(await get("/v1/admin/reconcile", adminKey)) as {
      ok: boolean;
      checked: unknown;
    };
    const incremental = performance.now() - t0;
    let fullBaseline = "skipped (> 150k orders: the full run holds every row in memory)";
    if (Number(counts.orders) <= 150_000) {
      const t1 = performance.now();
      await reconcile(db, null);
      fullBaseline = `full: ${fmt(performance.now() - t1, 0)} ms`;
    }
    row(
      `reconcile after ${fmt(NEW_ORDERS)} orders (${report.ok ? "ok" : "MISMATCHES"})`,
      incremental,
      fullBaseline,
      "< 1000 ms",
    );
    if (!report.ok) failed = true;

    const t2 = performance.now();
    const csv = await get("/v1/vendor/settlements?format=csv", vendorKey);
    const csvSeconds = (performance.now() - t2) / 1000;
    const csvRows = csv.split("\r\n").length - 2;
    const expected = Number(counts.settlements) + NEW_ORDERS;
    if (csvRows !== expected) {
      console.error(`CSV carried ${csvRows} rows, expected ${expected}`);
      failed = true;
    }

    console.log(
      `\nreads at ${fmt(Number(counts.orders))} orders, ${fmt(Number(counts.journal))} journal rows, ${fmt(Number(counts.pending))} pending rewards (PostgreSQL, p95 of ${SAMPLES} sequential requests)`,
    );
    console.log(`| read | p95 | baseline (same run) | target |\n|---|---:|---|---|`);
    for (const [name, ms, baseline, target] of rows)
      console.log(`| ${name} | ${fmt(ms, 1)} ms | ${baseline} | ${target} |`);
    console.log(
      `| vendor CSV, ${fmt(csvRows)} rows | ${fmt(csvRows / csvSeconds, 0)} rows/s | - | ≥ 100k rows/s |`,
    );
    const worst = Math.max(first.p95, deepPage.p95, stats.p95, summary.p95, me.p95);
    console.log(
      `reads: worst p95 ${fmt(worst, 1)} ms; stats ${fmt(statsScan.p95 / stats.p95, 1)}x faster than its scan; reconcile after ${fmt(NEW_ORDERS)} orders ${fmt(incremental, 0)} ms; CSV ${fmt(csvRows / csvSeconds, 0)} rows/s`,
    );
  } finally {
    await service?.stop();
    await connection.close();
    if (!GIVEN) await dropSchema(schema);
  }
  if (failed) process.exit(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
