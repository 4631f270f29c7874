/**
 * Load generator for referral visits: fires N requests at `GET /r/:code` with bounded concurrency
 * and reports count, duration and requests per second. Loopback only — it refuses any other host, so
 * it can never be pointed at someone else's service.
 *
 *   npx tsx scripts/load-visits.ts                      # starts its own instance (PGlite, or DATABASE_URL)
 *   npx tsx scripts/load-visits.ts --instances 2        # two instances on one Postgres schema (needs DATABASE_URL)
 *   npx tsx scripts/load-visits.ts --url http://127.0.0.1:3000 --code ANNA7F3K --n 10000 --c 64
 *
 * With its own instances it also flushes and checks that exactly N visits were counted.
 */
import { randomBytes } from "node:crypto";

export interface LoadOptions {
  /** One or more base URLs (requests are spread round-robin); each must be on 127.0.0.1 / localhost / ::1. */
  urls: string[];
  code: string;
  total: number;
  concurrency: number;
  /** Distinct user agents to cycle through (unique visitors = this, from one address). */
  userAgents?: number;
}

export interface LoadResult {
  sent: number;
  redirects: number;
  statuses: Record<string, number>;
  durationMs: number;
  requestsPerSecond: number;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Throws unless every URL points at this machine. */
export function assertLoopback(urls: string[]): void {
  for (const url of urls) {
    const host = new URL(url).hostname;
    if (!LOOPBACK.has(host)) throw new Error(`load-visits only targets loopback, not ${host}`);
  }
}

/** Fires `total` visits with at most `concurrency` in flight; never throws for a failed request. */
export async function loadVisits(options: LoadOptions): Promise<LoadResult> {
  assertLoopback(options.urls);
  const statuses: Record<string, number> = {};
  const userAgents = options.userAgents ?? 100;
  let next = 0;
  let redirects = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= options.total) return;
      const base = options.urls[index % options.urls.length]!;
      let status = "error";
      try {
        const res = await fetch(`${base}/r/${encodeURIComponent(options.code)}`, {
          redirect: "manual",
          headers: { "user-agent": `twinrail-load/${index % userAgents}` },
        });
        await res.arrayBuffer();
        status = String(res.status);
        if (res.status === 302) redirects += 1;
      } catch {
        status = "error";
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  const durationMs = performance.now() - started;
  return {
    sent: options.total,
    redirects,
    statuses,
    durationMs: Math.round(durationMs),
    requestsPerSecond: Math.round((options.total / durationMs) * 1000),
  };
}

function arg(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main() {
  const total = Number(arg("n") ?? 10_000);
  const concurrency = Number(arg("c") ?? 64);
  const url = arg("url");
  if (url) {
    const result = await loadVisits({ urls: [url], code: arg("code") ?? "ANNA7F3K", total, concurrency });
    console.log(JSON.stringify(result, null, 2));
    return;
  }

  // Self-contained run: start instance(s), create a referrer and a code, fire, flush, verify.
  const { loadConfig } = await import("../src/config.js");
  const { startServer } = await import("../src/server.js");
  const { registerMember } = await import("../src/ledger/register-member.js");
  const { issueCode } = await import("../src/ledger/issue-code.js");
  const { SYSTEM } = await import("../src/ledger/audit.js");
  const instances = Number(arg("instances") ?? 1);
  const databaseUrl = process.env.DATABASE_URL;
  if (instances > 1 && !databaseUrl)
    throw new Error("--instances > 1 needs DATABASE_URL (one shared Postgres)");
  const schema = databaseUrl ? `load_${randomBytes(5).toString("hex")}` : undefined;
  const shared = {
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "error",
    JOBS: "0",
    DEMO: "0",
    RATE_LIMIT_PUBLIC: "0",
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : {}),
  };
  const running = [];
  for (let i = 0; i < instances; i += 1) running.push(await startServer(loadConfig(shared)));
  const first = running[0]!;
  const db = first.services.db;
  try {
    await registerMember(db, SYSTEM, { memberId: "m_load", displayName: "Load" });
    const { code } = await issueCode(db, SYSTEM, "m_load", {});
    const result = await loadVisits({
      urls: running.map((r) => r.url.replace("localhost", "127.0.0.1")),
      code,
      total,
      concurrency,
    });
    for (const r of running) await r.services.visits?.flush();
    const row = await db
      .selectFrom("referral_codes")
      .select(["visits_total", "unique_visitors_total"])
      .where("code", "=", code)
      .executeTakeFirstOrThrow();
    const counted = Number(row.visits_total);
    console.log(
      JSON.stringify(
        {
          database: first.services.dbKind,
          instances,
          ...result,
          counted,
          uniqueVisitors: Number(row.unique_visitors_total),
        },
        null,
        2,
      ),
    );
    if (counted !== total) process.exitCode = 1;
  } finally {
    for (const r of running.reverse()) await r.close();
    if (schema && databaseUrl) {
      const pg = (await import("pg")).default;
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
