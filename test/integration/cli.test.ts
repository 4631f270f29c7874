import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/index.js";
import { connect, type Db } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { createApiKey, noteKeyUsed } from "../../src/ledger/api-keys.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { seedRewards } from "../faults/support.js";
import { startTestInstance, TEST_DATABASE_URL, TEST_DB, type TestInstance } from "../support/harness.js";

const root = path.resolve(__dirname, "../..");

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `twinrail …` as its own process (what bin/twinrail runs). */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli.ts", ...args],
      {
        cwd: root,
        env: {
          ...process.env,
          LOG_LEVEL: "silent",
          DEMO: "0",
          JOBS: "0",
          DATABASE_URL: "",
          RPC_URL: "",
          ...env,
        },
        encoding: "utf8",
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ status, stdout, stderr });
      },
    );
  });
}

/** `main()` in this process, for what never reaches a command's action: stdout and stderr captured. */
async function parse(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const vars = { LOG_LEVEL: "silent", DEMO: "0", JOBS: "0", RPC_URL: "", ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  // vitest routes console.* around process.stdout: capture those too.
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    stdout += `${parts.join(" ")}\n`;
  });
  const error = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
    stderr += `${parts.join(" ")}\n`;
  });
  try {
    return { status: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    log.mockRestore();
    error.mockRestore();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe("twinrail CLI: arguments", () => {
  it("refuses unknown flags, unknown commands and stray arguments with exit code 2", async () => {
    const cases = [
      ["keys", "list", "--bogus"],
      ["mint", "--al"],
      ["reconcile", "--ful"],
      ["migrate", "status", "--verbose"],
      ["frobnicate"],
      ["keys", "create", "--role", "root"],
      ["keys", "create"],
      ["webhooks", "list", "--limit", "zero"],
      ["token", "--member", "m_1", "extra"],
      ["start", "--port", "1"],
    ];
    const runs: CliRun[] = [];
    for (const args of cases) runs.push(await parse(args));
    for (const [i, run] of runs.entries()) {
      expect(run.status, cases[i]!.join(" ")).toBe(2);
      expect(run.stdout).toBe("");
    }
    expect(runs[0]!.stderr).toContain("unknown option '--bogus'");
    expect(runs[4]!.stderr).toContain("unknown command 'frobnicate'");
    expect(runs[5]!.stderr).toContain("Allowed choices are admin, integration, vendor");
    expect(runs[6]!.stderr).toContain("required option '--role <role>' not specified");
    // And as a process (bin/twinrail runs this): the exit status is 2.
    const process = await cli(["keys", "revoke", "abc", "--force"]);
    expect(process.status).toBe(2);
    expect(process.stderr).toContain("unknown option '--force'");
  }, 60_000);

  it("has --help per command, exit code 0", async () => {
    const [top, create, mint, reconcile, status] = [
      await parse(["--help"]),
      await parse(["keys", "create", "--help"]),
      await parse(["mint", "--help"]),
      await parse(["reconcile", "--help"]),
      await parse(["migrate", "status", "--help"]),
    ];
    for (const run of [top, create, mint, reconcile, status]) expect(run.status).toBe(0);
    for (const name of ["start", "migrate", "keys", "token", "mint", "reconcile", "webhooks"])
      expect(top.stdout).toContain(name);
    expect(create.stdout).toMatch(/--role <role>[\s\S]*--vendor <id>[\s\S]*--label <label>[\s\S]*--json/);
    expect(mint.stdout).toContain("--all");
    expect(reconcile.stdout).toContain("--full");
    expect(status.stdout).toContain("twinrail migrate status");
  });

  it("signs a member token (--json shape)", async () => {
    const run = await parse(["token", "--member", "m_cli", "--ttl", "60", "--json"], {
      MEMBER_TOKEN_SECRET: "a".repeat(64),
    });
    expect(run.status, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body).toEqual({
      token: expect.stringMatching(/^ey/),
      memberId: "m_cli",
      expiresAt: expect.any(String),
    });
  }, 60_000);
});

/**
 * The commands run in this process through `main()` (a process per command costs seconds here; the
 * tests above cover the process itself), on a DATA_DIR (PGlite) or a schema (PostgreSQL) seeded
 * through a plain connection; one connection at a time on PGlite.
 */
describe(`twinrail CLI against a database (${TEST_DB})`, () => {
  const schema = TEST_DB === "postgres" ? `t_${randomBytes(6).toString("hex")}` : undefined;
  const dir = TEST_DB === "pglite" ? mkdtempSync(path.join(tmpdir(), "twinrail-cli-")) : undefined;
  const dbOptions = schema ? { databaseUrl: TEST_DATABASE_URL, schema } : { dataDir: dir };
  const env: Record<string, string> = schema
    ? { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema }
    : { DATA_DIR: dir!, DATABASE_URL: "" };

  /** A connection of the test's own, closed before the next command opens the database. */
  async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const connection = await connect(dbOptions);
    try {
      return await fn(connection.db);
    } finally {
      await connection.close();
    }
  }

  beforeAll(async () => {
    const connection = await connect(dbOptions);
    await migrate(connection.sessionDb);
    const db = connection.db;
    // A key that has been used, an inbound event, a vendor, 7 approved rewards.
    const used = await createApiKey(db, SYSTEM, { role: "integration" });
    await noteKeyUsed(db, used.id);
    await db
      .insertInto("webhook_events")
      .values({
        provider: "payments",
        event_id: "evt_cli_1",
        payload_hash: "0".repeat(64),
        event_type: "order.paid",
        response: sql`'{}'::jsonb`,
      } as never)
      .execute();
    await db
      .insertInto("vendors")
      .values({ vendor_id: "v_books", name: "Books", platform_fee_bps: 500, hold_days: 0 } as never)
      .execute();
    await seedRewards(db, 7, "cli");
    await connection.close();
  }, 120_000);
  afterAll(async () => {
    if (schema) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keys create | list | revoke, with --json shapes", async () => {
    const created = await parse(
      ["keys", "create", "--role", "vendor", "--vendor", "v_books", "--label", "ci", "--json"],
      env,
    );
    expect(created.status, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toEqual({
      id: expect.stringMatching(/^[a-z0-9]{12}$/),
      key: expect.stringMatching(/^tw_[a-z0-9]{12}_/),
      role: "vendor",
      vendorId: "v_books",
      label: "ci",
    });

    const revoked = await parse(["keys", "revoke", key.id, "--json"], env);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({
      id: key.id,
      revokedAt: expect.any(String),
      alreadyRevoked: false,
    });
    const unknown = await parse(["keys", "revoke", "zzzzzzzzzzzz"], env);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain("no API key zzzzzzzzzzzz");

    // Active keys only: the integration key used in the setup shows when it was used.
    const active = JSON.parse((await parse(["keys", "list", "--json"], env)).stdout);
    expect(active.map((k: { id: string }) => k.id)).not.toContain(key.id);
    const integration = active.find((k: { role: string }) => k.role === "integration");
    expect(integration.lastUsedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const all = await parse(["keys", "list", "--all", "--json"], env);
    const mine = JSON.parse(all.stdout).find((k: { id: string }) => k.id === key.id);
    expect(mine).toEqual({
      id: key.id,
      role: "vendor",
      vendorId: "v_books",
      label: "ci",
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      lastUsedAt: null,
      revokedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // Never the secret.
    expect(all.stdout).not.toContain(key.key.slice(16));
  }, 120_000);

  it("migrate and migrate status (--json shapes)", async () => {
    const [applied, status, human] = [
      await parse(["migrate", "--json"], env),
      await parse(["migrate", "status", "--json"], env),
      await parse(["migrate", "status"], env),
    ];
    expect(applied.status, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout)).toEqual({ applied: [], alreadyApplied: expect.any(Array) });
    expect(status.status, status.stderr).toBe(0);
    const states = JSON.parse(status.stdout);
    expect(states.length).toBeGreaterThan(5);
    expect(states[0]).toEqual({ name: "0001_init.sql", state: "applied", appliedAt: expect.any(String) });
    expect(states.find((m: { name: string }) => m.name === "0014_api_key_last_used.sql")?.state).toBe(
      "applied",
    );
    expect(human.stdout).toMatch(/^migration\s+state\s+applied at$/m);
  }, 120_000);

  it("webhooks list shows the inbound events (--json shape)", async () => {
    const run = await parse(["webhooks", "list", "--json"], env);
    expect(run.status, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout);
    expect(body.inbound).toEqual([
      {
        provider: expect.any(String),
        eventId: expect.any(String),
        eventType: "order.paid",
        receivedAt: expect.any(String),
      },
    ]);
    // Outbound endpoints: an array once the outbound webhook tables exist, null before.
    expect(body.outbound === null || Array.isArray(body.outbound)).toBe(true);
  }, 120_000);

  it("mint --all mints batch after batch until the approved queue is empty", async () => {
    const run = await parse(["mint", "--all", "--json"], { ...env, MINT_BATCH_SIZE: "3" });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ batches: 3, minted: 7, failed: 0, finalStatus: "empty", runs: 4 });
    expect(summary.results.map((r: { status: string }) => r.status)).toEqual([
      "confirmed",
      "confirmed",
      "confirmed",
      "empty",
    ]);
    const { rows } = await withDb((db) =>
      sql<{ n: string }>`SELECT count(*)::text AS n FROM referral_rewards WHERE status = 'minted'`.execute(
        db,
      ),
    );
    expect(rows[0]!.n).toBe("7");
    const once = await parse(["mint"], env);
    expect(once.status, once.stderr).toBe(0);
    expect(JSON.parse(once.stdout)).toMatchObject({ status: "empty", minted: 0 });
  }, 120_000);
});

describe(`API keys' last_used_at (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance();
  });
  afterAll(async () => {
    await t?.close();
  });

  const lastUsed = async (key: string) =>
    (
      await t.services.db
        .selectFrom("api_keys")
        .select("last_used_at")
        .where("id", "=", key.split("_")[1]!)
        .executeTakeFirstOrThrow()
    ).last_used_at;

  it("is written on use, at most once a minute per key (not per request)", async () => {
    expect(await lastUsed(t.keys.admin)).toBeNull();
    expect((await t.request("GET", "/v1/admin/rewards", { key: t.keys.admin })).status).toBe(200);
    const first = await lastUsed(t.keys.admin);
    expect(first).not.toBeNull();
    expect(Math.abs(new Date(first!).getTime() - Date.now())).toBeLessThan(60_000);
    // Within the minute further requests write nothing: an old value stays as it is.
    await sql`UPDATE api_keys SET last_used_at = '2000-01-01T00:00:00Z' WHERE id = ${t.keys.admin.split("_")[1]!}`.execute(
      t.services.db,
    );
    for (let i = 0; i < 5; i++) await t.request("GET", "/v1/admin/rewards", { key: t.keys.admin });
    expect(new Date((await lastUsed(t.keys.admin))!).toISOString()).toBe("2000-01-01T00:00:00.000Z");
    // Another key is tracked on its own.
    expect(await lastUsed(t.keys.integration)).toBeNull();
  });
});
