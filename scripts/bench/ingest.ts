/**
 * Ingest: signed `order.paid` webhooks (each with `data.order`, each a new buyer) against the service
 * in its own process on PostgreSQL, spread over 1,000 referrers and all for one hot referrer, against
 * pgbench's TPC-B-like workload on the same server in the same run. Also: statements per event (from
 * the service's own `twinrail_db_statements_total`) and deadlocks during the run.
 *
 *   npx tsx scripts/bench/ingest.ts             # 2,000 orders per phase, pgbench 15 s
 *   npx tsx scripts/bench/ingest.ts --quick     # 300 orders per phase, pgbench 3 s (CI)
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
    const warm = Array.from({ length: 100 }, (_, i) =>
      signedDelivery(
        secret,
        `evt_warm_${i + 1}`,
        orderPaidEvent(`ord_warm_${i + 1}`, codes[i % codes.length]!),
      ),
    );
    await load(url, warm, CONCURRENCY);

    const tps = pgbenchTps(PGBENCH_SECONDS, CONCURRENCY);
    const deadlocksBefore = await deadlocks();
    const spreadRequests = Array.from({ length: ORDERS }, (_, i) =>
      signedDelivery(secret, `evt_spread_${i}`, orderPaidEvent(`ord_spread_${i}`, codes[i % codes.length]!)),
    );
    const statements0 = await statementsCounter(url);
    const cpu0 = { service: cpuSeconds(service.child.pid!), postgres: postgresCpuSeconds() };
    const spread = await load(url, spreadRequests, CONCURRENCY);
    const cpu1 = { service: cpuSeconds(service.child.pid!), postgres: postgresCpuSeconds() };
    const spreadStatements = (await statementsCounter(url)) - statements0 - metricsCost;
    const hotRequests = Array.from({ length: ORDERS }, (_, i) =>
      signedDelivery(secret, `evt_hot_${i}`, orderPaidEvent(`ord_hot_${i}`, hot)),
    );
    const hotRun = await load(url, hotRequests, CONCURRENCY);
    const deadlocksDuring = (await deadlocks()) - deadlocksBefore;
    const grouped = await batching(url);
    const hotRewards = await scalar(
      `SELECT count(*)::text AS n FROM ${schema}.referral_rewards WHERE referrer_member_id = 'm_hot'`,
    );

    const line = (name: string, r: typeof spread) =>
      `${name.padEnd(30)} ${fmt(r.perSecond, 1).padStart(8)} /s   p50 ${fmt(r.p50Ms, 1)} ms   p99 ${fmt(r.p99Ms, 1)} ms   ${JSON.stringify(r.statuses)}`;
    console.log(`\ningest (${ORDERS} order.paid per phase, concurrency ${CONCURRENCY}, PostgreSQL)`);
    console.log(
      `${"pgbench TPC-B-like (baseline)".padEnd(30)} ${fmt(tps, 1).padStart(8)} tps  (${CONCURRENCY} clients, ${PGBENCH_SECONDS} s)`,
    );
    console.log(line(`spread (${REFERRERS} referrers)`, spread));
    console.log(line("one hot referrer", hotRun));
    console.log(
      `statements per order.paid with data.order: ${withOrder} (+ BEGIN/COMMIT) alone; duplicate: ${duplicate}; under load (spread, group commit): ${fmt(spreadStatements / ORDERS, 2)} per event`,
    );
    console.log(
      `CPU per order.paid (spread): service ${fmt(((cpu1.service - cpu0.service) * 1000) / ORDERS, 2)} ms, PostgreSQL ${fmt(((cpu1.postgres - cpu0.postgres) * 1000) / ORDERS, 2)} ms (all server processes; other load on the machine counts too)`,
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
    if (!all200(spread) || !all200(hotRun) || deadlocksDuring !== 0n || hotRewards !== BigInt(ORDERS)) {
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
