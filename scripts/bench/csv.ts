/**
 * Vendor CSV export: `GET /v1/vendor/settlements?format=csv` of one vendor with N settlements, timed
 * over HTTP against the service in its own process on PostgreSQL, against `COPY (…) TO STDOUT` of the
 * same rows by psql in the same run (the database's own ceiling for the bytes it has to read).
 *
 *   npx tsx scripts/bench/csv.ts               # 103,000 settlements
 *   npx tsx scripts/bench/csv.ts --quick       # 10,000 settlements (CI)
 *   npx tsx scripts/bench/csv.ts --rows 500000
 *
 * The fill: 100 signed `order.paid` webhooks through the service (its own statements: orders,
 * settlements of two vendors with their breakdown, rewards), a refund of some of them (settlement
 * adjustments), then the orders and the `v_books` settlements of those real rows copied by one
 * `INSERT … SELECT … FROM generate_series` each, under new order references, until the vendor has N.
 * Exits 1 when the export is not 200 or does not carry exactly N rows.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import pg from "pg";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
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
  quick,
  scratchSchema,
  serviceEnv,
  signedDelivery,
  startService,
} from "./support.js";

const ROWS = numberArg("rows", quick ? 10_000 : 103_000);
const REAL_ORDERS = 100;

/** Streams the export, counting bytes and CRLF-terminated lines; time to the last byte. */
function download(
  url: string,
  key: string,
): Promise<{ status: number; bytes: number; lines: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get(
      `${url}/v1/vendor/settlements?format=csv`,
      { headers: { authorization: `Bearer ${key}` } },
      (res) => {
        let bytes = 0;
        let lines = 0;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, bytes, lines, ms: performance.now() - started }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
  });
}

async function main() {
  const schema = scratchSchema("bench_csv");
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const connection = await connect({ databaseUrl: BENCH_DATABASE_URL, schema });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  let failed = false;
  try {
    await migrate(connection.db);
    const db = connection.db;
    await seedCatalogRows(db);
    await registerMember(db, SYSTEM, { memberId: "m_ref", displayName: "Referrer" });
    const code = (await issueCode(db, SYSTEM, "m_ref")).code;
    const vendorKey = (await createApiKey(db, SYSTEM, { role: "vendor", vendorId: "v_books" })).key;

    service = await startService(
      serviceEnv(schema, {
        WEBHOOK_SECRET: secret,
      }),
    );
    const url = service.url;

    // The real rows: order.paid through the service's own webhook path.
    const paid = await load(
      url,
      Array.from({ length: REAL_ORDERS }, (_, i) =>
        signedDelivery(secret, `evt_csv_${i}`, orderPaidEvent(`ord_csv_${i}`, code)),
      ),
      8,
    );
    if (paid.statuses["200"] !== REAL_ORDERS) throw new Error(`fill: ${JSON.stringify(paid.statuses)}`);
    // A partial refund of every fifth: settlement adjustments the export sums per row.
    const refunds = Array.from({ length: REAL_ORDERS / 5 }, (_, i) =>
      signedDelivery(secret, `evt_csv_refund_${i}`, {
        type: "order.refunded",
        data: {
          orderReference: `ord_csv_${i * 5}`,
          refundId: `rf_${i}`,
          amountRefunded: "17000",
          refundedAt: new Date().toISOString(),
        },
      }),
    );
    const refunded = await load(url, refunds, 4);
    if (refunded.statuses["200"] !== refunds.length)
      throw new Error(`refunds: ${JSON.stringify(refunded.statuses)}`);

    // Copies of those rows under new references, one INSERT … SELECT per table.
    const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`SET search_path TO ${schema}`);
      const columns = async (table: string) =>
        (
          await client.query<{ name: string }>(
            `SELECT column_name AS name FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = $2 AND column_name <> 'id' ORDER BY ordinal_position`,
            [schema, table],
          )
        ).rows.map((row) => row.name);
      const copies = Math.ceil((ROWS - REAL_ORDERS) / REAL_ORDERS);
      const orderColumns = await columns("orders");
      const select = (cols: string[], alias: string) =>
        cols.map((c) =>
          c === "order_reference" ? `${alias}.order_reference || '_c' || g` : `${alias}.${c}`,
        );
      await client.query(
        `INSERT INTO orders (${orderColumns.join(", ")})
         SELECT ${select(orderColumns, "o").join(", ")}
         FROM orders o CROSS JOIN generate_series(1, ${copies}) g WHERE o.order_reference LIKE 'ord_csv_%'`,
      );
      const settlementColumns = await columns("settlements");
      await client.query(
        `INSERT INTO settlements (${settlementColumns.join(", ")})
         SELECT ${select(settlementColumns, "s").join(", ")}
         FROM generate_series(1, ${copies}) g CROSS JOIN settlements s
         WHERE s.vendor_id = 'v_books' AND s.order_reference LIKE 'ord_csv_%'
         ORDER BY g, s.id LIMIT ${ROWS - REAL_ORDERS}`,
      );
      await client.query("ANALYZE orders; ANALYZE settlements");
    } finally {
      await client.end();
    }

    // Warm-up (JIT, plans), then the counted export.
    await download(url, vendorKey);
    const run = await download(url, vendorKey);
    const rows = run.lines - 1;
    if (run.status !== 200 || rows !== ROWS) {
      failed = true;
      console.error(`export: status ${run.status}, ${rows} rows, expected ${ROWS}`);
    }

    // Baseline: psql's COPY of the same settlement rows to STDOUT (process start included).
    const target = new URL(BENCH_DATABASE_URL);
    const copyStarted = performance.now();
    execFileSync(
      "psql",
      [
        BENCH_DATABASE_URL,
        "-qAtc",
        `COPY (SELECT * FROM ${schema}.settlements WHERE vendor_id = 'v_books' ORDER BY id) TO STDOUT (FORMAT csv)`,
      ],
      {
        env: { ...process.env, PGPASSWORD: decodeURIComponent(target.password) },
        stdio: ["ignore", "ignore", "inherit"],
        maxBuffer: 1 << 30,
      },
    );
    const copyMs = performance.now() - copyStarted;

    const perSecond = (rows * 1000) / run.ms;
    console.log(`\nvendor CSV export (${fmt(ROWS)} settlements of one vendor, PostgreSQL)`);
    console.log(
      `${"psql COPY … TO STDOUT (baseline)".padEnd(34)} ${fmt((ROWS * 1000) / copyMs).padStart(9)} rows/s  ${fmt(copyMs)} ms`,
    );
    console.log(
      `${"GET /v1/vendor/settlements?format=csv".padEnd(34)} ${fmt(perSecond).padStart(9)} rows/s  ${fmt(run.ms)} ms  ${fmt(run.bytes / 1e6, 1)} MB`,
    );
    console.log(
      `csv: ${fmt(perSecond)} rows/s over HTTP (${fmt(ROWS)} rows, ${fmt(run.ms)} ms) vs COPY ${fmt((ROWS * 1000) / copyMs)} rows/s`,
    );
  } finally {
    await service?.stop();
    await connection.close();
    await dropSchema(schema);
  }
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
