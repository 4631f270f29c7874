import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connect, type Db } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { VisitBuffer } from "../../src/ledger/visit-buffer.js";

// As in test/support/harness.ts (not imported: this test needs no HTTP server).
const TEST_DB = process.env.TEST_DB === "postgres" ? "postgres" : "pglite";
const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * The visit buffer across a database outage: flushes fail while the database is "down" (a switch in
 * front of the real database), each failure puts its batch back, flushes requested meanwhile do not
 * pile up, and the first flush after the outage writes every visit exactly once.
 */
/** Visitor hashes are hex (a CHECK constraint): a fixed-width hex of the index. */
const visitor = (i: number) => i.toString(16).padStart(32, "0");

describe(`visit buffer across a database outage (${TEST_DB})`, () => {
  const schema = TEST_DB === "postgres" ? `t_${randomBytes(6).toString("hex")}` : undefined;
  let connection: Connection;
  let code: string;
  const outage = { down: false, attempts: 0 };
  // Every flush is one `db.transaction()`: refused while down, as a dead pool refuses a connection.
  let flaky: Db;

  beforeAll(async () => {
    connection = await connect(schema ? { databaseUrl: TEST_DATABASE_URL, schema } : {});
    await migrate(connection.db as never);
    await registerMember(connection.db, SYSTEM, { memberId: "m_outage", displayName: "Outage" });
    code = (await issueCode(connection.db, SYSTEM, "m_outage")).code;
    flaky = new Proxy(connection.db, {
      get(target, property, receiver) {
        if (property !== "transaction") return Reflect.get(target, property, receiver);
        return () => {
          outage.attempts++;
          if (!outage.down) return target.transaction();
          return {
            execute: async () => {
              throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
            },
          };
        };
      },
    });
  });
  afterAll(async () => {
    await connection?.close();
    if (schema) {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  async function visitsTotal() {
    const row = await connection.db
      .selectFrom("referral_codes")
      .select(["visits_total", "unique_visitors_total"])
      .where("code", "=", code)
      .executeTakeFirstOrThrow();
    return { visits: Number(row.visits_total), uniques: Number(row.unique_visitors_total) };
  }

  it("keeps every visit through failed flushes, coalesces early flushes, and writes them all once it is back", async () => {
    const before = await visitsTotal();
    const buffer = new VisitBuffer(flaky, { intervalMs: 60_000, maxPending: 5 });
    outage.down = true;
    outage.attempts = 0;
    for (let i = 0; i < 20; i++) buffer.record(code, "2025-06-01", visitor(i % 4));
    await expect(buffer.flush()).rejects.toThrow("ECONNREFUSED");
    // 20 visits over a threshold of 5: early flushes are coalesced and stop once one fails.
    const attemptsWhileDown = outage.attempts;
    for (let i = 20; i < 40; i++) buffer.record(code, "2025-06-01", visitor(i % 4));
    await expect(buffer.flush()).rejects.toThrow("ECONNREFUSED");
    expect(outage.attempts - attemptsWhileDown).toBe(1);
    expect(attemptsWhileDown).toBeLessThanOrEqual(3);
    expect(buffer.size).toBe(40);

    outage.down = false;
    const written = await buffer.flush();
    expect(written.visits).toBe(40);
    expect(buffer.size).toBe(0);
    expect(await visitsTotal()).toEqual({ visits: before.visits + 40, uniques: before.uniques + 4 });
  });

  it("retries on its own timer: visits recorded during the outage are counted after it", async () => {
    const before = await visitsTotal();
    const buffer = new VisitBuffer(flaky, { intervalMs: 50, maxPending: 1_000_000 });
    buffer.start();
    outage.down = true;
    outage.attempts = 0;
    for (let i = 0; i < 25; i++) buffer.record(code, "2025-06-02", visitor(i));
    const deadline = Date.now() + 5000;
    while (outage.attempts < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(outage.attempts).toBeGreaterThanOrEqual(3); // three failed timer flushes
    expect(buffer.size).toBe(25);
    outage.down = false;
    while (buffer.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(buffer.size).toBe(0);
    await buffer.close();
    expect(await visitsTotal()).toEqual({ visits: before.visits + 25, uniques: before.uniques + 25 });
  });
});
