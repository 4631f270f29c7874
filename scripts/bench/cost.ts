/**
 * What one `order.paid` (with `data.order`, a new buyer, 100 referrers) costs, counted rather than
 * timed, so the figures hold on a shared machine where throughput does not: rows written, rows
 * updated (and how many of those were HOT), index entries and foreign-key checks per event, table by
 * table (from pg_stat_user_tables and the catalog), the rows read (by scans, and through indexes),
 * and the service's CPU per event by thread (from
 * /proc: the main thread, and V8's helper threads for GC and compilation). Group commit is on as
 * configured (`INGEST_BATCH_*` pass through); the load is `--concurrency` (16) signed deliveries.
 *
 *   npx tsx scripts/bench/cost.ts                  # 2,000 events
 *   npx tsx scripts/bench/cost.ts --orders 500
 *   BENCH_NODE_FLAGS="--single-threaded-gc" npx tsx scripts/bench/cost.ts   # service under V8 flags
 *
 * Not part of `npm run bench` (it measures no ratio); docs/scaling.md quotes it.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { orderPaidEvent, seedCatalogRows } from "../../test/support/catalog.js";
import {
  BENCH_DATABASE_URL,
  dropSchema,
  fmt,
  load,
  numberArg,
  scratchSchema,
  serviceEnv,
  signedDelivery,
  startService,
} from "./support.js";

const ORDERS = numberArg("orders", 2000);
const CONCURRENCY = numberArg("concurrency", 16);
const REFERRERS = 100;
// Deliveries before the measured ones: the first ~2,000 after a start run on code V8 has not optimized
// yet, at about twice the CPU (ingest.ts prints that cold phase).
const WARMUP = numberArg("warmup", 2000);

interface TableRow {
  relname: string;
  ins: number;
  upd: number;
  hot: number;
  indexes: number;
  fks: number;
  seq: number;
  fetched: number;
}

/** CPU ticks (user + system) of each thread of `pid`, by thread id. */
function threadTicks(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks.set(tid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return ticks;
}

async function main() {
  const schema = scratchSchema("bench_cost");
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema });
  const stats = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    await migrate(connection.db);
    await seedCatalogRows(connection.db);
    const codes: string[] = [];
    for (let i = 0; i < REFERRERS; i++) {
      await registerMember(connection.db, SYSTEM, { memberId: `m_ref${i}` });
      codes.push((await issueCode(connection.db, SYSTEM, `m_ref${i}`)).code);
    }
    service = await startService(
      serviceEnv(schema, {
        WEBHOOK_SECRET: secret,
      }),
    );
    await stats.connect();
    // A backend publishes its counts when it goes idle, at most once a second; one that flushed less
    // than a second before goes idle publishes 10 s later (PostgreSQL 15's PGSTAT_IDLE_INTERVAL). With
    // 1.5 s here, 3–7 % of the warm-up's rows were counted as the measured events'.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 11_000));
    const snapshot = async () =>
      new Map(
        (
          await stats.query<TableRow>(
            `SELECT s.relname, n_tup_ins::int AS ins, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot,
                    (SELECT count(*) FROM pg_index i WHERE i.indrelid = s.relid)::int AS indexes,
                    (SELECT count(*) FROM pg_constraint k WHERE k.conrelid = s.relid AND k.contype = 'f')::int AS fks,
                    coalesce(seq_tup_read, 0)::int AS seq, coalesce(idx_tup_fetch, 0)::int AS fetched
               FROM pg_stat_user_tables s WHERE s.schemaname = $1`,
            [schema],
          )
        ).rows.map((row) => [row.relname, row]),
      );
    const deliveries = (prefix: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        signedDelivery(
          secret,
          `evt_${prefix}_${i}`,
          orderPaidEvent(`ord_${prefix}_${i}`, codes[i % REFERRERS]!),
        ),
      );
    await load(service.url, deliveries("warm", WARMUP), CONCURRENCY);
    await settle();

    const before = await snapshot();
    const pid = service.child.pid!;
    const ticks0 = threadTicks(pid);
    const run = await load(service.url, deliveries("cost", ORDERS), CONCURRENCY);
    const ticks1 = threadTicks(pid);
    await settle();
    const after = await snapshot();

    console.log(
      `\ncost of one order.paid (${ORDERS} events, concurrency ${CONCURRENCY}, ${fmt(run.perSecond)}/s)`,
    );
    console.log(
      `${"table".padEnd(28)} ${"rows".padStart(6)} ${"upd".padStart(6)} ${"HOT".padStart(6)} ${"idx entries".padStart(12)} ${"FK checks".padStart(10)} ${"read: scan".padStart(11)} ${"index".padStart(6)}`,
    );
    const total = { rows: 0, updated: 0, entries: 0, fks: 0, seq: 0, fetched: 0 };
    for (const [name, row] of [...after].sort(([a], [b]) => a.localeCompare(b))) {
      const was = before.get(name);
      const rows = (row.ins - (was?.ins ?? 0)) / ORDERS;
      const updated = (row.upd - (was?.upd ?? 0)) / ORDERS;
      const hot = (row.hot - (was?.hot ?? 0)) / ORDERS;
      // Rows read per event: by sequential scans (a figure that grows with the table is a plan that
      // reads a table whole: it caught two in 2026-12), and fetched through indexes (key checks too).
      const seq = (row.seq - (was?.seq ?? 0)) / ORDERS;
      const fetched = (row.fetched - (was?.fetched ?? 0)) / ORDERS;
      total.seq += seq;
      total.fetched += fetched;
      if (rows < 0.005 && updated < 0.005 && seq < 0.005 && fetched < 0.005) continue;
      // An insert adds an entry to every index; an update that is not HOT does too.
      const entries = (rows + updated - hot) * row.indexes;
      const fks = rows * row.fks;
      total.rows += rows;
      total.updated += updated;
      total.entries += entries;
      total.fks += fks;
      console.log(
        `${name.padEnd(28)} ${rows.toFixed(2).padStart(6)} ${updated.toFixed(2).padStart(6)} ${hot.toFixed(2).padStart(6)} ${entries.toFixed(1).padStart(12)} ${fks.toFixed(1).padStart(10)} ${seq.toFixed(1).padStart(11)} ${fetched.toFixed(1).padStart(6)}`,
      );
    }
    console.log(
      `${"per event".padEnd(28)} ${total.rows.toFixed(1).padStart(6)} ${total.updated.toFixed(1).padStart(6)} ${"".padStart(6)} ${total.entries.toFixed(1).padStart(12)} ${total.fks.toFixed(1).padStart(10)} ${total.seq.toFixed(1).padStart(11)} ${total.fetched.toFixed(1).padStart(6)}`,
    );
    const perEvent = [...ticks1]
      .map(([tid, t]) => ({ tid, ms: ((t - (ticks0.get(tid) ?? 0)) * 10) / ORDERS }))
      .filter((thread) => thread.ms > 0);
    const main = perEvent.find((thread) => thread.tid === String(pid));
    const helpers = perEvent.filter((thread) => thread.tid !== String(pid)).reduce((sum, t) => sum + t.ms, 0);
    console.log(
      `service CPU per event: main thread ${fmt(main?.ms ?? 0, 2)} ms, other threads ${fmt(helpers, 2)} ms (${perEvent.length - (main ? 1 : 0)} threads)`,
    );
    console.log(
      `cost: ${total.rows.toFixed(1)} rows, ${total.entries.toFixed(0)} index entries, ${total.fks.toFixed(0)} FK checks, ${total.seq.toFixed(1)} rows read by scans per order.paid; service ${fmt((main?.ms ?? 0) + helpers, 2)} ms CPU`,
    );
    if (run.statuses["200"] !== ORDERS) {
      console.error(`FAILED: not every delivery was answered 200: ${JSON.stringify(run.statuses)}`);
      process.exitCode = 1;
    }
  } finally {
    await stats.end().catch(() => undefined);
    await service?.stop();
    await connection.close();
    await dropSchema(schema);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
