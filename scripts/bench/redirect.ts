/**
 * `GET /r/:code` throughput against a bare node:http server answering the same 302 with two cookies,
 * in the same run, with wrk (-t2 -c64), and an exact visit count check.
 *
 *   npx tsx scripts/bench/redirect.ts              # 5 s per run, PGlite
 *   npx tsx scripts/bench/redirect.ts --quick      # 2 s per run
 *   npx tsx scripts/bench/redirect.ts --seconds 8
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx scripts/bench/redirect.ts
 *                                                  # Postgres, in a scratch schema dropped afterwards
 *
 * Three wrk runs, loopback only: (1) the bare server and (2) the service, both without a Lua script,
 * give the two req/s and their ratio; (3) the service again with a small Lua script that sends the
 * valid code for N seconds and then, for 2 s more, an unknown code (which counts no visit, so nothing
 * countable is in flight when wrk stops), counting the 302s that carry `?ref=`. After that run the
 * visit buffer is flushed and the stored visit count must equal wrk's count: otherwise exit 1.
 * The last line is the summary:
 *   redirect: <rps> req/s vs bare node:http <rps> req/s = <ratio>x, visits counted <n>/<n>
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../../src/config.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { type Running, startServer } from "../../src/server.js";

const WRK = "/usr/bin/wrk";

function args() {
  const argv = process.argv.slice(2);
  let seconds = 5;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--quick") seconds = 2;
    else if (arg === "--seconds") seconds = Number(argv[++i]);
    else if (arg?.startsWith("--seconds=")) seconds = Number(arg.slice("--seconds=".length));
    else throw new Error(`unknown argument ${arg}; use --quick or --seconds N`);
  }
  if (!Number.isInteger(seconds) || seconds < 2 || seconds > 20) throw new Error("--seconds must be 2–20");
  return { seconds };
}

/** The same 302 the service sends for a valid code: Location, two cookies, no-store, a short body. */
function startBare(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    const expires = new Date(Date.now() + 30 * 86_400_000).toUTCString();
    const body = "Found. Redirecting to http://127.0.0.1/shop/?ref=BENCHCODE";
    res.writeHead(302, [
      "cache-control",
      "no-store",
      "set-cookie",
      `tw_ref=BENCHCODE.tpe0a5.hEdfR88GZgqyV3ULtGtDnY7yq788WGjrAAzhrxOYBn4; Max-Age=2592000; Path=/; Expires=${expires}; HttpOnly; SameSite=Lax`,
      "set-cookie",
      `tw_ref_visible=BENCHCODE; Max-Age=2592000; Path=/; Expires=${expires}; SameSite=Lax`,
      "location",
      "http://127.0.0.1/shop/?ref=BENCHCODE",
      "content-type",
      "text/plain; charset=utf-8",
      "content-length",
      String(Buffer.byteLength(body)),
    ]);
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({
        server,
        url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`,
      });
    });
  });
}

// Counts 302s that carry ?ref= (a counted visit); sends the valid path only until the deadline.
const COUNTING_LUA = `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } twinrail_timeval;
int gettimeofday(twinrail_timeval *tv, void *tz);
]]
local tv = ffi.new("twinrail_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  deadline = tonumber(args[3])
  counted = 0
  valid_req = wrk.format("GET", args[1])
  other_req = wrk.format("GET", args[2])
end
function request()
  if now_ms() < deadline then return valid_req end
  return other_req
end
function response(status, headers, body)
  local location = headers["location"] or headers["Location"]
  if status == 302 and location and string.find(location, "?ref=", 1, true) then counted = counted + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("counted") end
  io.write(string.format("TWINRAIL_COUNTED %d\\n", total))
end
`;

interface WrkResult {
  rps: number;
  requests: number;
  errors: string | null;
  counted: number | null;
  output: string;
}

function wrk(url: string, seconds: number, script?: { file: string; args: string[] }): Promise<WrkResult> {
  const host = new URL(url).hostname;
  if (host !== "127.0.0.1") throw new Error(`bench targets 127.0.0.1 only, not ${host}`);
  // A long per-request timeout: on a loaded machine wrk must not give up on a request the server
  // still answers (and counts).
  const argv = [
    "-t2",
    "-c64",
    `-d${seconds}s`,
    "--timeout",
    "10s",
    ...(script ? ["-s", script.file] : []),
    url,
  ];
  if (script) argv.push("--", ...script.args);
  return new Promise((resolve, reject) => {
    execFile(WRK, argv, { timeout: (seconds + 30) * 1000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`wrk failed: ${error.message}\n${stderr}`));
      const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(stdout)?.[1] ?? Number.NaN);
      const requests = Number(/([0-9]+) requests in/.exec(stdout)?.[1] ?? Number.NaN);
      const errors = /Socket errors:[^\n]*|Non-2xx or 3xx responses:[^\n]*/.exec(stdout)?.[0] ?? null;
      const counted = /TWINRAIL_COUNTED ([0-9]+)/.exec(stdout)?.[1];
      resolve({
        rps,
        requests,
        errors,
        counted: counted === undefined ? null : Number(counted),
        output: stdout,
      });
    });
  });
}

async function visitsOf(running: Running, code: string): Promise<number> {
  const row = await running.services.db
    .selectFrom("referral_codes")
    .select("visits_total")
    .where("code", "=", code)
    .executeTakeFirstOrThrow();
  return Number(row.visits_total);
}

async function main() {
  const { seconds } = args();
  if (!existsSync(WRK)) {
    console.error(`wrk is missing (${WRK}); install it with: apt-get install wrk`);
    process.exit(2);
  }
  const databaseUrl = process.env.DATABASE_URL;
  const schema = databaseUrl ? `bench_${randomBytes(5).toString("hex")}` : undefined;
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    PUBLIC_BASE_URL: "http://127.0.0.1",
    LOG_LEVEL: "silent",
    JOBS: "0",
    DEMO: "0",
    RATE_LIMIT_PUBLIC: "0",
    WEBHOOK_SECRET: `whsec_${randomBytes(24).toString("base64")}`,
    MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
    CRON_SECRET: randomBytes(16).toString("hex"),
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
    ...(databaseUrl && schema ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : {}),
  });
  const bare = await startBare();
  const running = await startServer(config);
  const address = running.server.address();
  const serviceUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-bench-"));
  let exitCode = 0;
  try {
    const db = running.services.db;
    const codes: string[] = [];
    for (const memberId of ["m_bench_plain", "m_bench_counted"]) {
      await registerMember(db, SYSTEM, { memberId, displayName: memberId });
      codes.push((await issueCode(db, SYSTEM, memberId)).code);
    }
    const [plainCode, countedCode] = codes as [string, string];
    const database = databaseUrl ? `Postgres (schema ${schema})` : "PGlite";
    console.log(`wrk -t2 -c64 -d${seconds}s, loopback; service on ${database}, RATE_LIMIT_PUBLIC=0`);

    // Warm both (JIT, cache) before measuring.
    await wrk(`${bare.url}/`, 1);
    await wrk(`${serviceUrl}/r/${plainCode}`, 1);

    const bareRun = await wrk(`${bare.url}/r/BENCHCODE`, seconds);
    console.log(
      `bare node:http       ${bareRun.rps.toFixed(0).padStart(8)} req/s  (${bareRun.requests} requests)`,
    );
    const serviceRun = await wrk(`${serviceUrl}/r/${plainCode}`, seconds);
    console.log(
      `service GET /r/:code ${serviceRun.rps.toFixed(0).padStart(8)} req/s  (${serviceRun.requests} requests${serviceRun.errors ? `; ${serviceRun.errors}` : ""})`,
    );

    // The counted run: the valid code for `seconds`, then 2 s of an unknown one, so that whatever is
    // in flight when wrk stops counts no visit.
    const script = path.join(dir, "count.lua");
    writeFileSync(script, COUNTING_LUA);
    const countedSeconds = seconds + 2;
    const deadline = Date.now() + seconds * 1000;
    const countedRun = await wrk(`${serviceUrl}/r/${countedCode}`, countedSeconds, {
      file: script,
      args: [`/r/${countedCode}`, "/r/ZZZZNOPE9", String(deadline)],
    });
    // Let the last (unknown-code) requests drain, then write the buffer.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await running.services.visits!.flush();
    const stored = await visitsOf(running, countedCode);
    const counted = countedRun.counted ?? -1;
    const plainStored = await visitsOf(running, plainCode);
    console.log(
      `counted run (Lua)    ${countedRun.rps.toFixed(0).padStart(8)} req/s  (wrk saw ${counted} redirects with ?ref=, ${stored} visits stored${countedRun.errors ? `; ${countedRun.errors}` : ""})`,
    );
    console.log(
      `plain run: ${plainStored} visits stored for its code over warm-up + run (not compared with wrk's ${serviceRun.requests}: requests in flight when wrk stops are served but not counted by wrk, hence the counted run)`,
    );
    const ratio = serviceRun.rps / bareRun.rps;
    const exact = counted >= 0 && stored === counted;
    if (!exact) exitCode = 1;
    if (ratio < 0.25) console.log(`note: below the 0.25x target (${ratio.toFixed(3)}x)`);
    console.log(
      `redirect: ${serviceRun.rps.toFixed(0)} req/s vs bare node:http ${bareRun.rps.toFixed(0)} req/s = ${ratio.toFixed(3)}x, visits counted ${stored}/${counted}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await new Promise<void>((resolve) => bare.server.close(() => resolve()));
    bare.server.closeAllConnections?.();
    await running.close();
    if (databaseUrl && schema) {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
  process.exit(exitCode);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
