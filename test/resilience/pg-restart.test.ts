import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { type RawBuilder, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { orderBody, paidEvent, seedCatalog, type TestInstance } from "../support/harness.js";

/**
 * PostgreSQL restarts (`-m immediate`: every backend killed, crash recovery at start) in the middle of
 * a storm of signed `order.paid` webhooks against the service running as its own OS process. The
 * process must stay up; during the outage it answers 200 or 503 problem+json with Retry-After, within
 * a bound; `/readyz` says the database is down, then up. Every non-200 is then redelivered as a
 * provider would (same webhook-id and body) until it is 200, and every order is recorded exactly once.
 *
 * It restarts a THROWAWAY cluster (scripts/pg-scratch-cluster.sh), never the main one other suites use.
 */
const PG_VERSION = process.env.PG_VERSION ?? "15";
const CLUSTER = process.env.RESILIENCE_PG_CLUSTER ?? "resilience";
const PORT = Number(process.env.RESILIENCE_PG_PORT ?? 5439);
const DATABASE_URL = `postgres://postgres@127.0.0.1:${PORT}/test`;
const EVENTS = Number(process.env.RESILIENCE_EVENTS ?? 300);
const CONCURRENCY = 8;
/** No answer may take longer than this, outage or not. */
const RESPONSE_BOUND_MS = 15_000;
const execFileAsync = promisify(execFile);

if (CLUSTER === "main" || PORT === 5432)
  throw new Error("the resilience test never restarts the main cluster");

interface Child {
  child: ChildProcess;
  url: string;
  output: () => string;
}

function startService(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "start"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const output = () => out;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not become ready:\n${out}`)), 90_000);
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      const match = /ready at (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!.replace("localhost", "127.0.0.1"), output });
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
    });
    child.once("exit", (code, signal) => reject(new Error(`service exited (${code ?? signal}):\n${out}`)));
  });
}

interface Answer {
  status: number;
  ms: number;
  contentType: string | null;
  retryAfter: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: JSON of any shape, asserted field by field
  body: any;
  /** Set when no HTTP answer came at all (connection refused or reset, or past the bound). */
  error?: string;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      ...init,
      redirect: "manual",
      signal: AbortSignal.timeout(RESPONSE_BOUND_MS + 5000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {}
    return {
      status: res.status,
      ms: performance.now() - started,
      contentType: res.headers.get("content-type"),
      retryAfter: res.headers.get("retry-after"),
      body,
    };
  } catch (error) {
    return {
      status: 0,
      ms: performance.now() - started,
      contentType: null,
      retryAfter: null,
      body: undefined,
      error:
        error instanceof Error
          ? `${error.name}: ${error.message} ${String((error as { cause?: unknown }).cause ?? "")}`
          : String(error),
    };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("PostgreSQL restart under a webhook storm", () => {
  const schema = `r_${randomBytes(5).toString("hex")}`;
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
  let service: Child;
  let keys: { admin: string; integration: string };

  beforeAll(async () => {
    // Idempotent: creates and starts the scratch cluster when it is missing or down.
    execFileSync("bash", ["scripts/pg-scratch-cluster.sh", CLUSTER, String(PORT)], { stdio: "inherit" });
    const setup = await connect({ databaseUrl: DATABASE_URL, schema });
    await migrate(setup.db as never);
    keys = {
      admin: (await createApiKey(setup.db, SYSTEM, { role: "admin" })).key,
      integration: (await createApiKey(setup.db, SYSTEM, { role: "integration" })).key,
    };
    await setup.close();
    service = await startService({
      DATABASE_URL,
      DATABASE_SCHEMA: schema,
      PORT: "0",
      HOST: "127.0.0.1",
      DEMO: "0",
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "warn",
      RATE_LIMIT_PUBLIC: "0",
      WEBHOOK_SECRET: webhookSecret,
      MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
      CRON_SECRET: randomBytes(16).toString("hex"),
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
      // The jobs run, and often: the minter's session and the visit flusher live through the restart.
      JOBS: "1",
      MINT_CRON: "*/2 * * * * *",
      MINT_BATCH_SIZE: "50",
      MINT_LEASE_SECONDS: "10",
      VISIT_FLUSH_MS: "250",
    });
  }, 150_000);

  afterAll(async () => {
    if (service?.child.exitCode === null) {
      const exited = new Promise((resolve) => service.child.once("exit", resolve));
      service.child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000)]);
      if (service.child.exitCode === null) service.child.kill("SIGKILL");
    }
    const cleanup = await connect({ databaseUrl: DATABASE_URL }).catch(() => undefined);
    if (cleanup) {
      await sql
        .raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
        .execute(cleanup.db)
        .catch(() => undefined);
      await cleanup.close();
    }
  }, 30_000);

  it("stays up, answers 200 or 503 + Retry-After, and records every redelivered order exactly once", async () => {
    const { url, child } = service;
    const pid = child.pid;
    const alive = () => child.exitCode === null && child.signalCode === null;
    const diagnostics = () => `\n--- service output (tail) ---\n${service.output().slice(-6000)}`;

    // Catalog and referrer through the API, as an integration would.
    const shim = {
      keys,
      request: async (method: string, path: string, options: { key?: string; body?: unknown } = {}) =>
        call(`${url}${path}`, {
          method,
          headers: {
            "content-type": "application/json",
            ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
        }),
    } as unknown as TestInstance;
    const { referrerCode } = await seedCatalog(shim);

    // 300 distinct events, each with its order and its own buyer (first_order attribution).
    const events = Array.from({ length: EVENTS }, (_, i) => {
      const ref = `ord_rs_${i}`;
      return {
        id: `evt_${schema}_${i}`,
        ref,
        body: JSON.stringify(paidEvent(ref, "170000", { order: orderBody(ref) })),
      };
    });
    const deliver = (event: (typeof events)[number]) => {
      const timestamp = Math.floor(Date.now() / 1000);
      return call(`${url}/v1/webhooks/payments`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": event.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signWebhook(webhookSecret, event.id, timestamp, event.body),
        },
        body: event.body,
      });
    };

    // Background probes while the storm runs: readiness and referral visits.
    let probing = true;
    const readiness: {
      at: number;
      ms: number;
      status: number;
      databaseOk: boolean | undefined;
      error?: string;
    }[] = [];
    // Sampled every 150 ms, and back to back while the restart runs (the outage itself lasts well under a second).
    let restarting = false;
    const visits = { redirected: 0, other: new Map<number, number>() };
    const t0 = performance.now();
    const readyProbe = (async () => {
      while (probing) {
        const answer = await call(`${url}/readyz`);
        readiness.push({
          at: Math.round(performance.now() - t0),
          ms: Math.round(answer.ms),
          status: answer.status,
          databaseOk: answer.body?.database?.ok,
          error: answer.body?.database?.error ?? answer.error,
        });
        await sleep(restarting ? 5 : 150);
      }
    })();
    let visitor = 0;
    const visitProbe = (async () => {
      while (probing) {
        const answer = await call(`${url}/r/${referrerCode}`, {
          headers: { "user-agent": `resilience-visitor-${visitor++}` },
        });
        if (answer.status === 302) visits.redirected++;
        else visits.other.set(answer.status, (visits.other.get(answer.status) ?? 0) + 1);
        await sleep(40);
      }
    })();

    // The storm, at concurrency 8; PostgreSQL restarts once a fifth of the events are answered.
    const first: Answer[] = new Array(EVENTS);
    let next = 0;
    let answered = 0;
    let restart: Promise<{ startedAt: number; ms: number }> | undefined;
    const triggerRestart = () => {
      const startedAt = Math.round(performance.now() - t0);
      const began = performance.now();
      restarting = true;
      return execFileAsync("pg_ctlcluster", [
        "--skip-systemctl-redirect",
        PG_VERSION,
        CLUSTER,
        "restart",
        "-m",
        "immediate",
      ])
        .then(() => sleep(500))
        .then(() => {
          restarting = false;
          return { startedAt, ms: Math.round(performance.now() - began) - 500 };
        });
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < EVENTS) {
          const index = next++;
          first[index] = await deliver(events[index]!);
          answered++;
          if (!restart && answered >= EVENTS / 5) restart = triggerRestart();
        }
      }),
    );
    const restarted = await (restart ?? triggerRestart());
    const stormMs = Math.round(performance.now() - t0);

    // Every answer during the storm: 200, or 503 problem+json with Retry-After; none past the bound.
    expect(alive(), `the service process died${diagnostics()}`).toBe(true);
    const statuses = new Map<string, number>();
    for (const answer of first) {
      const key = answer.error ? `no answer (${answer.error.slice(0, 80)})` : String(answer.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    const summary = JSON.stringify(Object.fromEntries(statuses));
    const slowest = Math.max(...first.map((answer) => answer.ms));
    console.log(
      `[resilience] storm of ${EVENTS} in ${stormMs} ms; restart at ${restarted.startedAt} ms took ${restarted.ms} ms; first answers ${summary}; slowest ${Math.round(slowest)} ms`,
    );
    const unexpected = first.filter((answer) => answer.status !== 200 && answer.status !== 503);
    expect(
      unexpected.map((a) => ({ status: a.status, error: a.error, body: a.body })),
      diagnostics(),
    ).toEqual([]);
    for (const answer of first.filter((a) => a.status === 503)) {
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ status: 503, code: "database_unavailable" });
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
    expect(slowest).toBeLessThan(RESPONSE_BOUND_MS);

    // Redelivery, as a provider does: every non-200, same id and body, until it is 200.
    let pending = events.filter((_, i) => first[i]!.status !== 200);
    const redeliveredAtFirst = pending.length;
    let rounds = 0;
    const redeliveryDeadline = Date.now() + 60_000;
    while (pending.length > 0 && Date.now() < redeliveryDeadline) {
      rounds++;
      const failed: typeof pending = [];
      let cursor = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (cursor < pending.length) {
            const event = pending[cursor++]!;
            const answer = await deliver(event);
            expect([200, 503], JSON.stringify(answer.body ?? answer.error)).toContain(answer.status);
            if (answer.status !== 200) failed.push(event);
          }
        }),
      );
      pending = failed;
      // Retry-After asks for seconds; the test waits less, the answer is 503 again until the database is back.
      if (pending.length > 0) await sleep(500);
    }
    expect(pending.map((event) => event.id)).toEqual([]);
    console.log(`[resilience] redelivered ${redeliveredAtFirst} events in ${rounds} round(s)`);

    // Readiness: not ok during the outage (best effort: seen by a 150 ms poller), ok again after.
    let ready = await call(`${url}/readyz`);
    const readyDeadline = Date.now() + 20_000;
    while (ready.body?.database?.ok !== true && Date.now() < readyDeadline) {
      await sleep(250);
      ready = await call(`${url}/readyz`);
    }
    probing = false;
    await Promise.all([readyProbe, visitProbe]);
    const down = readiness.filter((sample) => sample.databaseOk === false);
    console.log(
      `[resilience] /readyz: ${readiness.length} samples, ${down.length} with database not ok (${[...new Set(down.map((sample) => sample.error))].join(" | ") || "-"}) from ${down[0]?.at ?? "-"} to ${down.at(-1)?.at ?? "-"} ms; slowest probe ${Math.max(0, ...readiness.map((sample) => sample.ms))} ms`,
    );
    expect(down.length, JSON.stringify(readiness.slice(0, 40))).toBeGreaterThan(0);
    expect(down.every((sample) => sample.status === 503)).toBe(true);
    expect(ready.status).toBe(200);
    expect(ready.body.database).toMatchObject({ ok: true, error: null });
    // The pool saw its connections die and opened new ones.
    expect(ready.body.database.pool.lostConnections).toBeGreaterThan(0);
    expect(ready.body.database.pool.lastError).toEqual(expect.any(String));

    // Exactly once: every order, one reward, one settlement per vendor, one webhook event each.
    const check = await connect({ databaseUrl: DATABASE_URL, schema });
    try {
      const one = async (query: RawBuilder<{ n: string }>) =>
        Number((await query.execute(check.db)).rows[0]?.n ?? -1);
      const refs = events.map((event) => event.ref);
      expect(await one(sql`SELECT count(*)::text AS n FROM webhook_events`)).toBe(EVENTS);
      expect(
        await one(sql`SELECT count(*)::text AS n FROM orders WHERE order_reference = ANY(${refs})`),
      ).toBe(EVENTS);
      expect(
        await one(sql`SELECT count(*)::text AS n FROM referral_rewards WHERE order_reference = ANY(${refs})`),
      ).toBe(EVENTS);
      expect(
        await one(
          sql`SELECT count(DISTINCT order_reference)::text AS n FROM referral_rewards WHERE order_reference = ANY(${refs})`,
        ),
      ).toBe(EVENTS);
      expect(
        await one(sql`SELECT count(*)::text AS n FROM settlements WHERE order_reference = ANY(${refs})`),
      ).toBe(2 * EVENTS);
      expect(
        await one(
          sql`SELECT count(*)::text AS n FROM (SELECT DISTINCT order_reference, vendor_id FROM settlements WHERE order_reference = ANY(${refs})) s`,
        ),
      ).toBe(2 * EVENTS);

      // The visit buffer resumed: every redirected visit is counted once its flush succeeds.
      let counted = -1;
      const visitDeadline = Date.now() + 15_000;
      while (Date.now() < visitDeadline) {
        counted = await one(
          sql`SELECT visits_total::text AS n FROM referral_codes WHERE code = ${referrerCode}`,
        );
        if (counted >= visits.redirected) break;
        await sleep(250);
      }
      console.log(
        `[resilience] visits: ${visits.redirected} redirected, ${counted} counted; other answers ${JSON.stringify(Object.fromEntries(visits.other))}`,
      );
      expect(visits.redirected).toBeGreaterThan(0);
      expect(counted).toBe(visits.redirected);

      // The minter resumed on its own: approved rewards are minted by the scheduled runs.
      const toMint = (
        await sql<{
          id: string;
        }>`SELECT id::text AS id FROM referral_rewards WHERE order_reference = ANY(${refs}) ORDER BY id LIMIT 40`.execute(
          check.db,
        )
      ).rows.map((row) => row.id);
      const approved = await shim.request("POST", "/v1/admin/rewards/approve", {
        key: keys.admin,
        body: { ids: toMint },
      });
      expect(approved.status).toBe(200);
      let minted = 0;
      const mintDeadline = Date.now() + 40_000;
      while (Date.now() < mintDeadline) {
        minted = await one(
          sql`SELECT count(*)::text AS n FROM referral_rewards WHERE status = 'minted' AND id = ANY(${toMint}::bigint[])`,
        );
        if (minted === toMint.length) break;
        await sleep(500);
      }
      expect(minted, diagnostics()).toBe(toMint.length);
      const manual = await shim.request("POST", "/v1/admin/mint", { key: keys.admin, body: {} });
      expect(manual.status).toBe(200);
      expect(manual.body.status).not.toBe("failed");
    } finally {
      await check.close();
    }

    if (process.env.RESILIENCE_PRINT_LOG) console.log(service.output());
    // The same process, still serving.
    expect(alive(), diagnostics()).toBe(true);
    expect(child.pid).toBe(pid);
    const health = await call(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
  }, 150_000);
});
