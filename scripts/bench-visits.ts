/**
 * Benchmark: visit counting with the in-memory buffer (batched atomic upserts) against a baseline
 * that writes every visit on its own (VISIT_FLUSH_MAX=1: one upsert per request, what a naive counter
 * does), in the same run, on the same machine and database kind. Both must count exactly N.
 *
 *   npx tsx scripts/bench-visits.ts [--n 5000] [--c 64]          # PGlite
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx scripts/bench-visits.ts
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { SYSTEM } from "../src/ledger/audit.js";
import { issueCode } from "../src/ledger/issue-code.js";
import { registerMember } from "../src/ledger/register-member.js";
import { startServer } from "../src/server.js";
import { loadVisits } from "./load-visits.js";

const arg = (name: string) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
};

async function run(label: string, env: Record<string, string>, total: number, concurrency: number) {
  const databaseUrl = process.env.DATABASE_URL;
  const schema = databaseUrl ? `bench_${randomBytes(5).toString("hex")}` : undefined;
  const running = await startServer(
    loadConfig({
      PORT: "0",
      LOG_LEVEL: "error",
      JOBS: "0",
      DEMO: "0",
      RATE_LIMIT_PUBLIC: "0",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
      ...(databaseUrl && schema ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : {}),
      ...env,
    }),
  );
  try {
    const db = running.services.db;
    await registerMember(db, SYSTEM, { memberId: "m_bench" });
    const { code } = await issueCode(db, SYSTEM, "m_bench");
    const url = running.url.replace("localhost", "127.0.0.1");
    await loadVisits({ urls: [url], code, total: Math.min(500, total), concurrency }); // warm-up
    await running.services.visits?.flush();
    const before = (
      await db
        .selectFrom("referral_codes")
        .select("visits_total")
        .where("code", "=", code)
        .executeTakeFirstOrThrow()
    ).visits_total;
    const result = await loadVisits({ urls: [url], code, total, concurrency });
    const flushStarted = performance.now();
    await running.services.visits?.flush();
    const flushMs = performance.now() - flushStarted;
    const after = (
      await db
        .selectFrom("referral_codes")
        .select("visits_total")
        .where("code", "=", code)
        .executeTakeFirstOrThrow()
    ).visits_total;
    const counted = Number(after - before);
    return {
      label,
      database: running.services.dbKind,
      total,
      counted,
      ms: result.durationMs + flushMs,
      rps: (total / (result.durationMs + flushMs)) * 1000,
    };
  } finally {
    await running.close();
    if (schema && process.env.DATABASE_URL) {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

async function main() {
  const total = Number(arg("n") ?? 5000);
  const concurrency = Number(arg("c") ?? 64);
  const baseline = await run(
    "baseline: a flush started by every visit (VISIT_FLUSH_MAX=1)",
    { VISIT_FLUSH_MAX: "1" },
    total,
    concurrency,
  );
  const buffered = await run("buffered: batched upserts (defaults)", {}, total, concurrency);
  console.log(`\n| mode | database | visits | counted | time (incl. final flush) | visits/s |`);
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of [baseline, buffered]) {
    console.log(
      `| ${r.label} | ${r.database} | ${r.total} | ${r.counted} | ${Math.round(r.ms)} ms | ${Math.round(r.rps)} |`,
    );
  }
  console.log(`\nbuffered / baseline throughput: ${(buffered.rps / baseline.rps).toFixed(2)}×`);
  if (baseline.counted !== total || buffered.counted !== total) {
    console.error("a mode did not count exactly N visits");
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
