/**
 * Fills a schema with a busy marketplace's year through the service's own ledger use cases
 * (scripts/bench/fill-orders.ts): referrers with codes and attributed signups, then orders paid with
 * `data.order` over two vendors, one in 50 partly refunded, referrers Zipf-distributed (referrer 0 is
 * viral), spread over 365 UTC days; the rollups folded and an incremental reconcile run as it goes.
 *
 *   npx tsx scripts/bench/fill.ts --orders 1000000 --schema bench_year --minutes 25
 *   npx tsx scripts/bench/fill.ts --orders 2000 --drop          # a quick one, dropped afterwards
 *   npx tsx scripts/bench/fill.ts --orders 100000 --schema bench_year --prefix more   # add to a kept one
 *
 * Stops at --orders or after --minutes, whichever comes first, and says which. Keeps the schema
 * (for scripts/bench/reads.ts --schema …) unless --drop.
 */
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { runReconcile } from "../../src/ledger/reconcile/runs.js";
import { foldRollups } from "../../src/ledger/rollups/fold.js";
import { seedCatalogRows } from "../../test/support/catalog.js";
import { fillConfig, fillOrders, seedReferrers } from "./fill-orders.js";
import {
  analyzeSchema,
  args,
  BENCH_DATABASE_URL,
  dropSchema,
  fmt,
  numberArg,
  scratchSchema,
} from "./support.js";

const ORDERS = numberArg("orders", 1_000_000);
const MINUTES = numberArg("minutes", 25);
const REFERRERS = numberArg("referrers", 2000);
const prefixIndex = args.indexOf("--prefix");
/** Names of this fill's members and orders: a second fill into the same schema takes another prefix. */
const PREFIX = prefixIndex >= 0 ? args[prefixIndex + 1]! : "fill";
const schemaIndex = args.indexOf("--schema");
const SCHEMA = schemaIndex >= 0 ? args[schemaIndex + 1]! : scratchSchema("bench_fill");

async function main() {
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema: SCHEMA, poolSize: 6 });
  const db = connection.db;
  const started = performance.now();
  try {
    await migrate(db);
    await seedCatalogRows(db);
    await runReconcile(db, null, { full: true }); // the first checkpoint, on an empty ledger
    const codes = await seedReferrers(db, PREFIX, REFERRERS, 5);
    console.log(
      `${REFERRERS} referrers, ${REFERRERS * 5} signups in ${fmt((performance.now() - started) / 1000, 1)} s`,
    );
    let lastFold = 0;
    let lastReconcile = 0;
    const result = await fillOrders(db, fillConfig(), codes, {
      prefix: PREFIX,
      referrers: REFERRERS,
      orders: ORDERS,
      batch: numberArg("batch", 250),
      workers: numberArg("workers", 3),
      days: 365,
      refundEvery: 50,
      deadline: started + MINUTES * 60_000,
      onProgress: async (done) => {
        if (done - lastFold >= 20_000) {
          lastFold = done;
          await foldRollups(db);
          const s = (performance.now() - started) / 1000;
          console.log(`${done} orders, ${fmt(s, 0)} s, ${fmt(done / s, 0)} orders/s overall`);
        }
        if (done - lastReconcile >= 100_000) {
          lastReconcile = done;
          const t0 = performance.now();
          const run = await runReconcile(db, null);
          console.log(
            `  incremental reconcile: ${run.ok ? "ok" : `${run.mismatches.length} mismatches`} over ${run.checked.orders} orders in ${fmt((performance.now() - t0) / 1000, 1)} s`,
          );
        }
      },
    });
    await foldRollups(db);
    await analyzeSchema(db, { vacuum: true }); // as autovacuum would have, long before a year went by
    const reached = result.orders >= ORDERS ? "all" : `stopped by the ${MINUTES}-minute budget`;
    console.log(
      `fill: ${result.orders} orders (${reached}) in ${fmt(result.seconds, 0)} s = ${fmt(result.perSecond, 0)} orders/s through recordOrderPaid; schema ${SCHEMA}`,
    );
  } finally {
    await connection.close();
    if (args.includes("--drop")) await dropSchema(SCHEMA);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
