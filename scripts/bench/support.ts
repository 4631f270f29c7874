import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { sql } from "kysely";
import pg from "pg";
import type { Db } from "../../src/db/connect.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";

/**
 * Shared pieces of the benchmarks in scripts/bench/: a service in its own OS process (so the load
 * generator does not share its event loop), a keep-alive HTTP load generator, and pgbench as the
 * database's own baseline on the same server in the same run.
 */

export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/test";

export const args = process.argv.slice(2);
export const quick = args.includes("--quick");
export function numberArg(name: string, fallback: number): number {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
}

export interface Service {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** `twinrail start` as a child process; resolves once it prints its URL. */
export function startService(env: Record<string, string>): Promise<Service> {
  const profile = process.env.BENCH_CPU_PROF
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  // BENCH_NODE_FLAGS: Node/V8 flags for the service alone (e.g. "--single-threaded-gc --trace-deopt").
  const flags = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...profile, ...flags, "--import", "tsx", "src/cli.ts", "start"], {
    env: { ...process.env, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stopping = false;
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`service did not become ready:\n${out}`)), 90_000);
    const onData = (chunk: string) => {
      out += chunk;
      const match = /ready at (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        resolve({
          child,
          url: match[1]!,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              stopping = true;
              child.once("exit", () => done());
              child.kill("SIGTERM");
            }),
        });
      }
    };
    child.stdout?.setEncoding("utf8").on("data", onData);
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.once("exit", (code, signal) => {
      reject(new Error(`service exited with ${code}:\n${out}`));
      // After it was ready, a service that exits unasked would otherwise only show as failed requests.
      if (!stopping)
        console.error(`service exited with ${code ?? signal}; its last output:\n${out.slice(-4000)}`);
    });
  });
}

/**
 * The environment of a benchmark's service on `schema` of the benchmark database: no demo, no jobs,
 * no public rate limit, fresh secrets, and group commit's settings when the benchmark's environment
 * has them (`INGEST_BATCH_MAX=1 npx tsx scripts/bench/ingest.ts` measures one transaction per event).
 * `overrides` replace any of them, e.g. a known WEBHOOK_SECRET.
 */
export function serviceEnv(schema: string, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: BENCH_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    PORT: "0",
    DEMO: "0",
    JOBS: "0",
    RATE_LIMIT_PUBLIC: "0",
    WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(16).toString("hex"),
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith("INGEST_BATCH_"))),
    ...overrides,
  };
}

export interface LoadResult {
  requests: number;
  seconds: number;
  perSecond: number;
  statuses: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  /** CPU this process (the load generator) spent per request, user + system, in ms. */
  clientCpuMs: number;
}

export interface PreparedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Sends `requests` (in order) with `concurrency` keep-alive connections; latency per request. */
export async function load(
  base: string,
  requests: PreparedRequest[],
  concurrency: number,
): Promise<LoadResult> {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let next = 0;
  const one = (request: PreparedRequest) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: request.method,
          path: request.path,
          agent,
          headers: {
            ...request.headers,
            ...(request.body ? { "content-length": Buffer.byteLength(request.body) } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error("timeout")));
      req.end(request.body);
    });
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const request = requests[next++]!;
        const t0 = performance.now();
        const status = await one(request).catch(() => 0);
        latencies.push(performance.now() - t0);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    requests: requests.length,
    seconds,
    perSecond: requests.length / seconds,
    statuses,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    clientCpuMs: (cpu.user + cpu.system) / 1000 / Math.max(1, requests.length),
  };
}

/** A scratch schema name, dropped by `dropSchema`. */
export function scratchSchema(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

/**
 * pgbench's TPC-B-like workload on the same server: a scratch database `twinrail_pgbench`
 * (initialised once, scale 10), `clients` connections for `seconds`. Returns transactions per second.
 */
export function pgbenchTps(seconds: number, clients: number): number {
  const url = new URL(BENCH_DATABASE_URL);
  const conn = [
    "-h",
    url.hostname,
    "-p",
    url.port || "5432",
    "-U",
    decodeURIComponent(url.username || "postgres"),
  ];
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
  const databases = execFileSync(
    "psql",
    [...conn, "-d", url.pathname.slice(1) || "postgres", "-Atc", "SELECT datname FROM pg_database"],
    {
      env,
      encoding: "utf8",
    },
  );
  if (!databases.split("\n").includes("twinrail_pgbench")) {
    execFileSync(
      "psql",
      [...conn, "-d", url.pathname.slice(1) || "postgres", "-c", "CREATE DATABASE twinrail_pgbench"],
      {
        env,
        stdio: "ignore",
      },
    );
    execFileSync("pgbench", [...conn, "-i", "-q", "-s", "10", "twinrail_pgbench"], { env, stdio: "ignore" });
  }
  const out = execFileSync(
    "pgbench",
    [...conn, "-c", String(clients), "-j", "2", "-T", String(seconds), "-M", "prepared", "twinrail_pgbench"],
    { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const match = /tps = ([0-9.]+)/.exec(out);
  if (!match) throw new Error(`pgbench printed no tps:\n${out}`);
  return Number(match[1]);
}

export const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

/** CPU seconds (user + system) a process has used, from /proc (Linux only; NaN elsewhere). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds used by every PostgreSQL server process on this machine (all backends and workers). */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim();
      if (comm === "postgres" || comm.startsWith("postgres")) total += cpuSeconds(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/** A signed delivery of `event` to the payments webhook, as the provider sends it (Standard Webhooks). */
export function signedDelivery(secret: string, id: string, event: unknown): PreparedRequest {
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    method: "POST",
    path: "/v1/webhooks/payments",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signWebhook(secret, id, timestamp, body),
    },
    body,
  };
}

/**
 * `VACUUM ANALYZE` (or only `ANALYZE`) of the tables of `db`'s schema, as autovacuum would have done
 * long before (it is off on some machines) — not of the whole database, which may hold other
 * benchmarks' schemas of many GB.
 */
export async function analyzeSchema(db: Db, options: { vacuum?: boolean } = {}): Promise<void> {
  const { rows } = await sql<{ name: string }>`
    SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables
     WHERE schemaname = current_schema()`.execute(db);
  if (rows.length === 0) return;
  const list = rows.map((row) => row.name).join(", ");
  await sql.raw(`${options.vacuum ? "VACUUM ANALYZE" : "ANALYZE"} ${list}`).execute(db);
}
