import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";
import { exited, startProcess } from "../support/processes.js";

/**
 * Graceful shutdown of `twinrail start` (close-with-grace): SIGTERM stops accepting, lets in-flight
 * requests finish, flushes the visit buffer and closes the pools; a second SIGTERM exits at once.
 * The in-flight request is a POST whose body is still being uploaded when the signal arrives.
 */
describe(`graceful shutdown of a service process (${TEST_DB})`, () => {
  const schema = TEST_DB === "postgres" ? `t_${randomBytes(6).toString("hex")}` : undefined;
  const dir = TEST_DB === "pglite" ? mkdtempSync(path.join(tmpdir(), "twinrail-shutdown-")) : undefined;
  const dbOptions = schema ? { databaseUrl: TEST_DATABASE_URL, schema } : { dataDir: dir };
  const children: ChildProcess[] = [];
  let code: string;
  const env = {
    ...(schema
      ? { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema }
      : { DATABASE_URL: "", DATA_DIR: dir! }),
    PORT: "0",
    DEMO: "0",
    JOBS: "0",
    RPC_URL: "",
    // Info: the test waits for the "shutting down" line (signals sent at once may arrive as one).
    LOG_LEVEL: "info",
    RATE_LIMIT_PUBLIC: "0",
    // Visits stay buffered until shutdown flushes them.
    VISIT_FLUSH_MS: "60000",
    VISIT_FLUSH_MAX: "1000000",
    SHUTDOWN_GRACE_MS: "30000",
    COOKIE_SECRET: randomBytes(32).toString("hex"),
    IP_HASH_SECRET: randomBytes(32).toString("hex"),
  };

  beforeAll(async () => {
    const connection = await connect(dbOptions);
    await migrate(connection.sessionDb);
    await registerMember(connection.db, SYSTEM, { memberId: "m_shut", displayName: "Shut" });
    code = (await issueCode(connection.db, SYSTEM, "m_shut")).code;
    await connection.close();
  }, 60_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    if (schema) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A POST whose body is sent in two parts: the request is in flight until `finish()`. */
  function slowRequest(url: string) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "eth_chainId", params: [] });
    const half = Math.floor(body.length / 2);
    let finish!: () => void;
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${url}/v1/chain/rpc`, {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
      });
      req.on("response", (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.write(body.slice(0, half));
      finish = () => req.end(body.slice(half));
    });
    return { response, finish: () => finish() };
  }

  const refused = (url: string) =>
    new Promise<string>((resolve) => {
      const { hostname, port } = new URL(url);
      const socket = net.connect(Number(port), hostname === "localhost" ? "127.0.0.1" : hostname);
      socket.once("connect", () => {
        socket.destroy();
        resolve("connected");
      });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
    });

  /** Resolves once the process has logged that it handles the signal. */
  const shuttingDown = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      let out = "";
      child.stdout?.on("data", (chunk: string) => {
        out += chunk;
        if (out.includes('"msg":"shutting down"')) resolve();
      });
    });

  const visitsOf = async () => {
    const connection = await connect(dbOptions);
    try {
      const { rows } = await sql<{ n: string }>`
        SELECT coalesce(sum(visits), 0)::text AS n FROM visit_days WHERE code = ${code}`.execute(
        connection.db,
      );
      return Number(rows[0]?.n);
    } finally {
      await connection.close();
    }
  };

  it("finishes the in-flight request, refuses new connections and writes the buffered visits", async () => {
    const { child, url } = await startProcess(env);
    children.push(child);
    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${url}/r/${code}`, { redirect: "manual" });
      expect(res.status).toBe(302);
    }
    const slow = slowRequest(url);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exit = exited(child);
    const handling = shuttingDown(child);
    child.kill("SIGTERM");
    await handling;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(child.exitCode).toBeNull(); // still serving the in-flight request
    expect(await refused(url)).toBe("ECONNREFUSED");
    slow.finish();
    const answered = await slow.response;
    expect(answered.status).toBe(200);
    expect(JSON.parse(answered.body)).toMatchObject({ id: 7, result: expect.stringMatching(/^0x/) });
    expect(await exit).toBe(0);
    // Nothing was flushed before the signal (60 s interval): all 25 were written on the way out.
    expect(await visitsOf()).toBe(25);
  }, 120_000);

  it("exits at once on a second SIGTERM", async () => {
    const { child, url } = await startProcess(env);
    children.push(child);
    const slow = slowRequest(url);
    slow.response.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exit = exited(child);
    const handling = shuttingDown(child);
    child.kill("SIGTERM");
    await handling;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(child.exitCode).toBeNull(); // waiting for the in-flight request (grace 30 s)
    const t0 = Date.now();
    child.kill("SIGTERM");
    expect(await exit).toBe(1);
    expect(Date.now() - t0).toBeLessThan(2000);
  }, 120_000);
});
