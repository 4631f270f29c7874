import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { signWebhook } from "../../src/lib/standard-webhooks.js";
import { seedCatalogRows } from "../support/catalog.js";
import { orderBody, paidEvent, TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";
import { startProcess, withConcurrency } from "../support/processes.js";

/**
 * Two service processes behind PgBouncer 1.18 in transaction-pooling mode (docs/runbook.md, "Behind
 * pgbouncer"): DATABASE_URL through the pooler with DATABASE_POOL_MODE=transaction (no startup
 * parameters; search_path from the [databases] entry's connect_query), DATABASE_DIRECT_URL direct for
 * migrations and the minter's session advisory lock. Signups, orders and signed order.paid webhooks
 * split across both, a mint on each, and a code deactivated on one that the other stops resolving.
 */
const PGBOUNCER = "/usr/sbin/pgbouncer";
const available = TEST_DB === "postgres" && existsSync(PGBOUNCER);
if (!available && TEST_DB === "postgres") {
  if (process.env.CI) throw new Error(`${PGBOUNCER} is required in CI (.ci/run installs pgbouncer)`);
  console.warn(`pgbouncer.test.ts skipped: ${PGBOUNCER} not found (apt-get install pgbouncer)`);
}

const ORDERS = 60;
const SIGNUPS = 40;
/** Server connections PgBouncer may open: far fewer than the two pools' 20 clients. */
const SERVER_POOL = 4;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

describe.runIf(available)("two instances behind pgbouncer (pool_mode=transaction)", () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const webhookSecret = `whsec_${randomBytes(24).toString("base64")}`;
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-pgbouncer-"));
  const children: ChildProcess[] = [];
  let bouncer: ChildProcess | undefined;
  let bouncerLog = "";
  let pooledUrl = "";
  let urls: string[] = [];
  let connection: Connection;
  const codes: string[] = [];
  let adminKey: string;
  let integrationKey: string;

  beforeAll(async () => {
    connection = await connect({ databaseUrl: TEST_DATABASE_URL, schema });
    await migrate(connection.db);
    const db = connection.db;
    await seedCatalogRows(db);
    for (let i = 0; i < 5; i++) {
      await registerMember(db, SYSTEM, {
        memberId: `m_ref${i}`,
        displayName: `Referrer ${i}`,
        walletAddress: `0x${(i + 1).toString(16).padStart(40, "0")}`,
      });
      codes.push((await issueCode(db, SYSTEM, `m_ref${i}`)).code);
    }
    adminKey = (await createApiKey(db, SYSTEM, { role: "admin" })).key;
    integrationKey = (await createApiKey(db, SYSTEM, { role: "integration" })).key;

    // PgBouncer: trust auth, transaction pooling, the schema from connect_query, no unix socket.
    const target = new URL(TEST_DATABASE_URL);
    const user = decodeURIComponent(target.username || "postgres");
    const port = await freePort();
    writeFileSync(path.join(dir, "userlist.txt"), `"${user}" "${decodeURIComponent(target.password)}"\n`);
    writeFileSync(
      path.join(dir, "pgbouncer.ini"),
      [
        "[databases]",
        `twinrail = host=${target.hostname} port=${target.port || "5432"} dbname=${target.pathname.slice(1) || "postgres"} ` +
          `pool_size=${SERVER_POOL} connect_query='SET search_path TO ${schema}'`,
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        `listen_port = ${port}`,
        "unix_socket_dir =",
        "auth_type = trust",
        `auth_file = ${path.join(dir, "userlist.txt")}`,
        "pool_mode = transaction",
        "max_client_conn = 200",
        `admin_users = ${user}`,
        "",
      ].join("\n"),
    );
    // PgBouncer refuses to run as root: as root (a CI container) it drops to the postgres OS user.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chmodSync(dir, 0o755);
    bouncer = spawn(PGBOUNCER, [...(asRoot ? ["-u", "postgres"] : []), path.join(dir, "pgbouncer.ini")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    bouncer.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      bouncerLog += chunk;
    });
    bouncer.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      bouncerLog += chunk;
    });
    pooledUrl = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/twinrail`;
    for (let attempt = 0; ; attempt++) {
      const client = new pg.Client({ connectionString: pooledUrl });
      try {
        await client.connect();
        await client.query("SELECT 1");
        await client.end();
        break;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (attempt > 100) throw new Error(`pgbouncer did not start: ${error}\n${bouncerLog}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    const env = {
      DATABASE_URL: pooledUrl,
      DATABASE_POOL_MODE: "transaction",
      // Named, so the locks of these sessions can be told from other tests' on the shared server.
      DATABASE_DIRECT_URL: `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes("?") ? "&" : "?"}application_name=${schema}`,
      DATABASE_SCHEMA: schema,
      PORT: "0",
      DEMO: "0",
      JOBS: "0",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PUBLIC: "0",
      WEBHOOK_SECRET: webhookSecret,
      ATTRIBUTION_CAP_PER_REFERRER_MONTH: "100000",
      ATTRIBUTION_CAP_PER_IP_DAY: "100000",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
      MEMBER_TOKEN_SECRET: randomBytes(32).toString("hex"),
      CRON_SECRET: randomBytes(16).toString("hex"),
    };
    const started = await Promise.all([startProcess(env), startProcess(env)]);
    for (const { child } of started) children.push(child);
    urls = started.map((s) => s.url);
  }, 240_000);

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    if (bouncer && bouncer.exitCode === null) bouncer.kill("SIGTERM");
    await connection?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  const one = async (query: ReturnType<typeof sql<{ n: string }>>) =>
    Number((await query.execute(connection.db)).rows[0]!.n);

  async function call(url: string, method: string, route: string, key: string, body?: unknown) {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    return { status: res.status, text, body: text.startsWith("{") ? JSON.parse(text) : undefined };
  }

  async function deliver(url: string, id: string, body: string) {
    const timestamp = Math.floor(Date.now() / 1000);
    const res = await fetch(`${url}/v1/webhooks/payments`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signWebhook(webhookSecret, id, timestamp, body),
      },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    return { status: res.status, text: await res.text() };
  }

  it("refuses startup options through the pooler (why DATABASE_POOL_MODE=transaction sends none)", async () => {
    const client = new pg.Client({ connectionString: pooledUrl, options: `-c search_path=${schema}` });
    await expect(client.connect()).rejects.toThrow(/unsupported startup parameter/);
    await client.end().catch(() => undefined);
  });

  it(`signups, ${ORDERS} orders × 2 deliveries across both instances: exactly once, no 5xx`, async () => {
    const signups = await withConcurrency(
      16,
      Array.from(
        { length: SIGNUPS },
        (_, i) => () =>
          call(urls[i % 2]!, "POST", "/v1/members", integrationKey, {
            memberId: `m_sign${i}`,
            refCode: codes[i % codes.length],
            clientIp: "198.51.100.7",
          }),
      ),
    );
    expect(signups.filter((r) => r.status >= 300).map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual(
      [],
    );
    expect(
      await one(
        sql`SELECT count(*)::text AS n FROM members WHERE member_id LIKE 'm_sign%' AND referred_by_member_id IS NOT NULL`,
      ),
    ).toBe(SIGNUPS);

    // Checkout on one instance, each order.paid delivered twice, once to each.
    const orders = await withConcurrency(
      16,
      Array.from(
        { length: ORDERS },
        (_, i) => () =>
          call(
            urls[(i + 1) % 2]!,
            "POST",
            "/v1/orders",
            integrationKey,
            orderBody(`ord_pgb_${i}`, {
              refCode: codes[i % codes.length],
            }),
          ),
      ),
    );
    expect(orders.filter((r) => r.status >= 300).map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual(
      [],
    );
    // One body per event (paidAt included): a redelivery carries the same bytes.
    const bodies = Array.from({ length: ORDERS }, (_, i) =>
      JSON.stringify(paidEvent(`ord_pgb_${i}`, "170000")),
    );
    const deliveries = Array.from({ length: ORDERS * 2 }, (_, k) => {
      const i = k >> 1;
      return () => deliver(urls[k % 2]!, `evt_pgb_${i}`, bodies[i]!);
    });
    const responses = await withConcurrency(16, deliveries);
    expect(
      responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 200)}`),
    ).toEqual([]);
    expect(
      await one(sql`SELECT count(*)::text AS n FROM referral_rewards WHERE order_reference LIKE 'ord_pgb_%'`),
    ).toBe(ORDERS);
    expect(
      await one(sql`SELECT count(*)::text AS n FROM settlements WHERE order_reference LIKE 'ord_pgb_%'`),
    ).toBe(ORDERS * 2);
    expect(
      await one(sql`SELECT count(*)::text AS n FROM webhook_events WHERE event_id LIKE 'evt_pgb_%'`),
    ).toBe(ORDERS);

    // Approve everything on one instance, mint on the other, then on the first: one sender at a
    // time (the lock is on a DATABASE_DIRECT_URL session), and no advisory lock left behind.
    const ids = (
      await sql<{
        id: string;
      }>`SELECT id::text AS id FROM referral_rewards WHERE status = 'pending_approval'`.execute(connection.db)
    ).rows.map((row) => row.id);
    expect(ids.length).toBe(ORDERS);
    const approve = await call(urls[0]!, "POST", "/v1/admin/rewards/approve", adminKey, { ids });
    expect(approve.status).toBe(200);
    expect(approve.body.approved).toHaveLength(ORDERS);
    const mints = [];
    for (let round = 0; round < 10; round++) {
      const mint = await call(urls[(round + 1) % 2]!, "POST", "/v1/admin/mint", adminKey, {});
      expect(mint.status).toBeLessThan(500);
      mints.push(mint.body?.status);
      if (mint.body?.status === "empty") break;
    }
    expect(mints).not.toContain("busy");
    expect(mints.at(-1)).toBe("empty");
    expect(
      await one(
        sql`SELECT count(*)::text AS n FROM referral_rewards WHERE order_reference LIKE 'ord_pgb_%' AND status = 'minted'`,
      ),
    ).toBe(ORDERS);
    expect(
      await one(
        sql`SELECT count(*)::text AS n FROM (SELECT reward_id FROM mint_batch_rewards GROUP BY reward_id HAVING count(*) > 1) d`,
      ),
    ).toBe(0);
    expect(
      await one(
        // The minter's lock namespace (src/jobs/minter), on these instances' direct sessions: nothing
        // held once the runs are over (a lock taken through the pooler would stay on a server connection).
        sql`SELECT count(*)::text AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.classid = 7312 AND l.objsubid = 2 AND a.application_name = ${schema}`,
      ),
    ).toBe(0);
    const reconcile = await call(urls[1]!, "GET", "/v1/admin/reconcile", adminKey);
    // Each instance runs its own embedded chain, so the on-chain check only sees that instance's
    // batches; the ledger checks (journal, rails per order) cover everything.
    expect(reconcile.status).toBe(200);
    expect(reconcile.body.mismatches.filter((m: { check: string }) => m.check !== "chain")).toEqual([]);
  }, 600_000);

  it("a code rotated on one instance stops resolving on the other within ~1 s", async () => {
    const code = codes[4]!;
    const resolves = async (url: string) =>
      ((await (await fetch(`${url}/v1/referral?code=${code}`)).json()) as { applied: boolean }).applied;
    expect(await resolves(urls[0]!)).toBe(true);
    expect(await resolves(urls[1]!)).toBe(true);
    const rotated = await call(urls[0]!, "POST", "/v1/members/m_ref4/code", integrationKey, { rotate: true });
    expect(rotated.status).toBeLessThan(300);
    const changedAt = performance.now();
    expect(await resolves(urls[0]!)).toBe(false);
    while (await resolves(urls[1]!)) {
      expect(performance.now() - changedAt).toBeLessThan(1500);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const fresh = rotated.body.code as string;
    expect(
      ((await (await fetch(`${urls[1]}/v1/referral?code=${fresh}`)).json()) as { applied: boolean }).applied,
    ).toBe(true);
  }, 60_000);
});
