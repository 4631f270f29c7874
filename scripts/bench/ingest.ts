/**
 * Ingest: signed `order.paid` webhooks (each with `data.order`, each a new buyer) against the service
 * in its own process on PostgreSQL, spread over 1,000 referrers and all for one hot referrer, against
 * pgbench's TPC-B-like workload on the same server in the same run (before the phases and after them).
 * The phases follow a measured cold phase (the first deliveries after the service starts) and a VACUUM
 * ANALYZE of the schema. Also: statements per event (from the service's own
 * `twinrail_db_statements_total`), CPU per event, and deadlocks during the run.
 *
 *   npx tsx scripts/bench/ingest.ts             # 2,000 orders per phase, pgbench 2 × 15 s
 *   npx tsx scripts/bench/ingest.ts --quick     # 300 orders per phase, pgbench 2 × 3 s (CI)
 *   npx tsx scripts/bench/ingest.ts --warmup 100   # a shorter cold phase
 *   npx tsx scripts/bench/ingest.ts --orders 5000 --concurrency 16
 *   INGEST_BATCH_MAX=1 npx tsx scripts/bench/ingest.ts   # without group commit
 *
 * Exits 1 when a delivery is not answered 200 or a deadlock happened.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { orderPaidEvent, seedCatalogRows } from "../../test/support/catalog.js";
import {
  analyzeSchema,
  BENCH_DATABASE_URL,
  cpuSeconds,
  dropSchema,
  fmt,
  load,
  numberArg,
  pgbenchTps,
  postgresCpuSeconds,
  quick,
  scratchSchema,
  serviceEnv,
  signedDelivery,
  startService,
} from "./support.js";

const ORDERS = numberArg("orders", quick ? 300 : 2000);
const CONCURRENCY = numberArg("concurrency", 16);
const PGBENCH_SECONDS = numberArg("pgbench-seconds", quick ? 3 : 15);
const REFERRERS = quick ? 100 : 1000;
const WARMUP = numberArg("warmup", quick ? 300 : 2000);

async function scalar(sqlText: string): Promise<bigint> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    return BigInt((await client.query(sqlText)).rows[0].n);
  } finally {
    await client.end();
  }
}
const deadlocks = () =>
  scalar("SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()");

/** The service's `/metrics` text, and one unlabelled counter or gauge read from it. */
const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
const read = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? Number.NaN);
const statementsCounter = async (url: string) => read(await scrape(url), "twinrail_db_statements_total");

/** Group commit's counters (src/ledger/order-paid-batcher.ts), and why batches left it. */
async function batching(
  url: string,
): Promise<{ batches: number; batched: number; single: number; left: string }> {
  const text = await scrape(url);
  const left = [...text.matchAll(/^twinrail_ingest_batches_left_total\{reason="([a-z_]+)"\} (\d+)/gm)]
    .map((m) => `${m[1]} ${m[2]}`)
    .join(", ");
  return {
    batches: read(text, "twinrail_ingest_batches_total"),
    batched: read(text, "twinrail_ingest_batched_events_total"),
    single: read(text, "twinrail_ingest_single_events_total"),
    left: left || "none",
  };
}

async function main() {
  const schema = scratchSchema("bench_ingest");
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  let failed = false;
  try {
    await migrate(connection.db);
    const db = connection.db;
    await seedCatalogRows(db);
    const codes: string[] = [];
    for (let i = 0; i < REFERRERS; i++) {
      await registerMember(db, SYSTEM, { memberId: `m_ref${i}` });
      codes.push((await issueCode(db, SYSTEM, `m_ref${i}`)).code);
    }
    await registerMember(db, SYSTEM, { memberId: "m_hot", displayName: "Hot" });
    const hot = (await issueCode(db, SYSTEM, "m_hot")).code;

    service = await startService(
      serviceEnv(schema, {
        WEBHOOK_SECRET: secret,
      }),
    );
    const url = service.url;

    // Warm-up (JIT, pool) and statements per event, one delivery at a time.
    await load(url, [signedDelivery(secret, "evt_warm_0", orderPaidEvent("ord_warm_0", codes[0]!))], 1);
    // Reading /metrics costs statements of its own (its gauges read the database, the first scrape
    // more than the later ones): measured once it is steady, and subtracted.
    await statementsCounter(url);
    let before = await statementsCounter(url);
    const metricsCost = (await statementsCounter(url)) - before;
    before = await statementsCounter(url);
    await load(url, [signedDelivery(secret, "evt_stmt_1", orderPaidEvent("ord_stmt_1", codes[1]!))], 1);
    const withOrder = (await statementsCounter(url)) - before - metricsCost;
    before = await statementsCounter(url);
    await load(url, [signedDelivery(secret, "evt_stmt_1", orderPaidEvent("ord_stmt_1", codes[1]!))], 1);
    const duplicate = (await statementsCounter(url)) - before - metricsCost;
    // pgbench before the phases and after them: on a shared machine the baseline itself moves by a fifth
    // within minutes, so the ratio is to the mean of both. Before the cold phase, not right before the
    // measured ones: pgbench's 160 MB evict this schema from shared_buffers (128 MB by default).
    const tpsBefore = pgbenchTps(PGBENCH_SECONDS, CONCURRENCY);
    // The first deliveries after a start run on code V8 has not optimized yet: in this phase the service
    // spent 1.2–1.4 ms of CPU per delivery, and 0.6–0.8 ms from then on (measured on 2026-12-04, 2,000
    // each). It is measured and printed, but the spread and hot phases are the steady state.
    const coldRequests = Array.from({ length: WARMUP }, (_, i) =>
      signedDelivery(
        secret,
        `evt_warm_${i + 1}`,
        orderPaidEvent(`ord_warm_${i + 1}`, codes[i % codes.length]!),
      ),
    );
    const deadlocksBefore = await deadlocks();
    const cold = await load(url, coldRequests, CONCURRENCY);
    // As autovacuum would have by now (it is off on some machines: then nothing ever analyzes these
    // young tables, and every webhook row updated stays dead).
    await analyzeSchema(db, { vacuum: true });

    const spreadRequests = Array.from({ length: ORDERS }, (_, i) =>
      signedDelivery(secret, `evt_spread_${i}`, orderPaidEvent(`ord_spread_${i}`, codes[i % codes.length]!)),
    );
    const statements0 = await statementsCounter(url);
    const pid = service.child.pid!;
    const cpuNow = () => ({ service: cpuSeconds(pid), postgres: postgresCpuSeconds() });
    const cpu0 = cpuNow();
    const spread = await load(url, spreadRequests, CONCURRENCY);
    const cpu1 = cpuNow();
    const spreadStatements = (await statementsCounter(url)) - statements0 - metricsCost;
    const hotRequests = Array.from({ length: ORDERS }, (_, i) =>
      signedDelivery(secret, `evt_hot_${i}`, orderPaidEvent(`ord_hot_${i}`, hot)),
    );
    const cpu2 = cpuNow();
    const hotRun = await load(url, hotRequests, CONCURRENCY);
    const cpu3 = cpuNow();
    const deadlocksDuring = (await deadlocks()) - deadlocksBefore;
    const grouped = await batching(url);
    const hotRewards = await scalar(
      `SELECT count(*)::text AS n FROM ${schema}.referral_rewards WHERE referrer_member_id = 'm_hot'`,
    );
    // Last: pgbench blocks this process (execFileSync), so the keep-alive sockets to the service that
    // it closed meanwhile are only seen closed after the next turn of the event loop.
    const tpsAfter = pgbenchTps(PGBENCH_SECONDS, CONCURRENCY);
    const tps = (tpsBefore + tpsAfter) / 2;

    const line = (name: string, r: typeof spread) =>
      `${name.padEnd(30)} ${fmt(r.perSecond, 1).padStart(8)} /s   p50 ${fmt(r.p50Ms, 1)} ms   p99 ${fmt(r.p99Ms, 1)} ms   ${JSON.stringify(r.statuses)}`;
    console.log(`\ningest (${ORDERS} order.paid per phase, concurrency ${CONCURRENCY}, PostgreSQL)`);
    console.log(
      `${"pgbench TPC-B-like (baseline)".padEnd(30)} ${fmt(tps, 1).padStart(8)} tps  (${CONCURRENCY} clients, ${PGBENCH_SECONDS} s before the phases: ${fmt(tpsBefore, 1)}, after: ${fmt(tpsAfter, 1)})`,
    );
    console.log(line(`cold: first ${WARMUP} after start`, cold));
    console.log(line(`spread (${REFERRERS} referrers)`, spread));
    console.log(line("one hot referrer", hotRun));
    console.log(
      `statements per order.paid with data.order: ${withOrder} (+ BEGIN/COMMIT) alone; duplicate: ${duplicate}; under load (spread, group commit): ${fmt(spreadStatements / ORDERS, 2)} per event`,
    );
    const cpu = (from: typeof cpu0, to: typeof cpu0, r: typeof spread) =>
      `service ${fmt(((to.service - from.service) * 1000) / ORDERS, 2)} ms, PostgreSQL ${fmt(((to.postgres - from.postgres) * 1000) / ORDERS, 2)} ms, load generator ${fmt(r.clientCpuMs, 2)} ms`;
    console.log(
      `CPU per order.paid: spread ${cpu(cpu0, cpu1, spread)}; hot ${cpu(cpu2, cpu3, hotRun)} (PostgreSQL: all server processes; other load on the machine counts too)`,
    );
    console.log(
      `group commit (whole run): ${grouped.batched} deliveries in ${grouped.batches} grouped transactions (${fmt(grouped.batched / Math.max(1, grouped.batches), 1)} per group), ${grouped.single} one by one; groups rolled back: ${grouped.left}`,
    );
    console.log(
      `deadlocks during the run: ${deadlocksDuring}; hot referrer rewards: ${hotRewards}/${ORDERS}`,
    );
    console.log(
      `ingest: spread ${fmt(spread.perSecond, 1)}/s = ${(spread.perSecond / tps).toFixed(3)}x pgbench ${fmt(tps, 1)} tps; hot ${fmt(hotRun.perSecond, 1)}/s = ${(hotRun.perSecond / spread.perSecond).toFixed(2)}x spread`,
    );
    const all200 = (r: typeof spread) => r.statuses["200"] === r.requests;
    if (
      !all200(cold) ||
      !all200(spread) ||
      !all200(hotRun) ||
      deadlocksDuring !== 0n ||
      hotRewards !== BigInt(ORDERS)
    ) {
      console.error("FAILED: a delivery was not 200, a deadlock happened, or a reward is missing");
      failed = true;
    }
  } finally {
    await service?.stop();
    await connection.close();
    await dropSchema(schema);
  }
  if (failed) process.exit(1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
