/**
 * The database's share of `order.paid`: the exact statements the service sends for one signed
 * `order.paid` with `data.order` (captured from the pg driver while the service handles it), replayed
 * by pgbench as one transaction with a fresh order per transaction, against pgbench's TPC-B-like
 * workload on the same server in the same run. What the replay reaches is the ceiling the database
 * puts on ingest; the gap to the HTTP ingest figure (ingest.ts) is the service's own cost.
 *
 *   npx tsx scripts/bench/replay.ts            # 15 s each
 *   npx tsx scripts/bench/replay.ts --quick    # 3 s each
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../../src/config.js";
import { orderRefHash } from "../../src/domain/order-ref.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { startServer } from "../../src/server.js";
import { orderPaidEvent, seedCatalogRows } from "../../test/support/catalog.js";
import {
  BENCH_DATABASE_URL,
  dropSchema,
  fmt,
  numberArg,
  pgbenchTps,
  quick,
  scratchSchema,
} from "./support.js";

const SECONDS = numberArg("seconds", quick ? 3 : 15);
const CLIENTS = numberArg("concurrency", 16);
const TOKEN = "REPLAYTOKEN";

function literal(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  // A list parameter (`= ANY($1::text[])`) as a PostgreSQL array literal.
  if (Array.isArray(value))
    return `'{${value.map((item) => `"${String(item).replace(/["\\]/g, "\\$&").replace(/'/g, "''")}"`).join(",")}}'`;
  const text =
    value instanceof Date
      ? value.toISOString()
      : typeof value === "object"
        ? JSON.stringify(value)
        : String(value);
  return `'${text.replace(/'/g, "''")}'`;
}

async function main() {
  const schema = scratchSchema("bench_replay");
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const config = loadConfig({
    PORT: "0",
    LOG_LEVEL: "silent",
    JOBS: "0",
    DEMO: "0",
    RATE_LIMIT_PUBLIC: "0",
    DATABASE_URL: BENCH_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    WEBHOOK_SECRET: secret,
  });
  const running = await startServer(config);
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-replay-"));
  try {
    const db = running.services.db;
    await seedCatalogRows(db);
    await registerMember(db, SYSTEM, { memberId: "m_ref" });
    const code = (await issueCode(db, SYSTEM, "m_ref")).code;

    // Capture what the driver sends while the service handles one webhook.
    const captured: Array<{ text: string; values: unknown[] }> = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const [first, second] = args as [unknown, unknown];
      const text = typeof first === "string" ? first : (first as { text?: string })?.text;
      const values = Array.isArray(second) ? second : ((first as { values?: unknown[] })?.values ?? []);
      if (text) captured.push({ text, values });
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    const ref = `ord_${TOKEN}`;
    const refHash = orderRefHash(ref);
    const body = JSON.stringify(orderPaidEvent(ref, code));
    const id = `evt_${TOKEN}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await fetch(`${running.url}/v1/webhooks/payments`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(secret, id, timestamp, body),
      },
      body,
    });
    pg.Client.prototype.query = original;
    if (res.status !== 200)
      throw new Error(`the captured webhook answered ${res.status}: ${await res.text()}`);
    const statements = captured.filter(
      (q) =>
        q.text.includes(TOKEN) ||
        q.values.some((v) => String(v).includes(TOKEN)) ||
        /^(begin|commit)$/i.test(q.text.trim()),
    );
    const script = [
      "\\set id random(1, 2000000000)",
      "\\set h 10000000000 + :id",
      "\\set c 100 + :client_id",
      ...statements.map((q) => {
        const sqlText = q.text.replace(/\$(\d+)/g, (_m, n: string) => literal(q.values[Number(n) - 1]));
        // One line per command for pgbench; a fresh order (and buyer, event, audit) per transaction.
        // keccak256(orderReference) is computed by the service: a unique 64-hex stand-in per transaction.
        return `${sqlText
          .replace(/\s+/g, " ")
          .replaceAll(refHash.slice(2), `${"a".repeat(50)}:c:h`)
          .replaceAll(TOKEN, "R:client_id_:id")};`;
      }),
    ].join("\n");
    const file = path.join(dir, "order-paid.sql");
    writeFileSync(file, `${script}\n`);
    if (process.env.REPLAY_SCRIPT_OUT) writeFileSync(process.env.REPLAY_SCRIPT_OUT, `${script}\n`);
    if (process.env.REPLAY_KEEP_SCHEMA) console.log(`schema kept: ${schema}`);

    const url = new URL(BENCH_DATABASE_URL);
    const conn = [
      "-h",
      url.hostname,
      "-p",
      url.port || "5432",
      "-U",
      decodeURIComponent(url.username || "postgres"),
    ];
    const tps = pgbenchTps(SECONDS, CLIENTS);
    const out = execFileSync(
      "pgbench",
      [
        ...conn,
        "-n",
        "-c",
        String(CLIENTS),
        "-j",
        "2",
        "-T",
        String(SECONDS),
        "-f",
        file,
        url.pathname.slice(1),
      ],
      {
        env: {
          ...process.env,
          PGOPTIONS: `-c search_path=${schema}`,
          PGPASSWORD: decodeURIComponent(url.password),
        },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const replayTps = Number(/tps = ([0-9.]+)/.exec(out)?.[1] ?? Number.NaN);
    const failed = /number of failed transactions: (\d+)/.exec(out)?.[1] ?? "0";
    const count = statements.filter((q) => !/^(begin|commit)$/i.test(q.text.trim())).length;
    console.log(
      `\nreplay: the SQL of one order.paid (${count} statements + BEGIN/COMMIT) through pgbench, ${CLIENTS} clients, ${SECONDS} s`,
    );
    console.log(`pgbench TPC-B-like (baseline)  ${fmt(tps, 1)} tps`);
    console.log(`order.paid SQL replayed        ${fmt(replayTps, 1)} tps  (failed transactions: ${failed})`);
    console.log(
      `replay: order.paid SQL ${fmt(replayTps, 1)} tps = ${(replayTps / tps).toFixed(3)}x pgbench TPC-B ${fmt(tps, 1)} tps`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await running.close();
    if (!process.env.REPLAY_KEEP_SCHEMA) await dropSchema(schema);
    await new pg.Pool({ connectionString: BENCH_DATABASE_URL }).end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
