import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadVisits } from "../../scripts/load-visits.js";
import { connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { issueCode } from "../../src/ledger/issue-code.js";
import { registerMember } from "../../src/ledger/register-member.js";
import { TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";
import { exited, startProcess } from "../support/processes.js";

describe.runIf(TEST_DB === "postgres")("visits counted by two service processes on one database", () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it("counts exactly 10000 visits split across two OS processes, flushed on SIGTERM", async () => {
    const connection = await connect({ databaseUrl: TEST_DATABASE_URL, schema });
    await migrate(connection.db as never);
    await registerMember(connection.db, SYSTEM, { memberId: "m_proc", displayName: "Proc" });
    const { code } = await issueCode(connection.db, SYSTEM, "m_proc");

    const env = {
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      PORT: "0",
      DEMO: "0",
      JOBS: "0",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PUBLIC: "0",
      // A long flush interval: most visits are still buffered when SIGTERM arrives.
      VISIT_FLUSH_MS: "60000",
      COOKIE_SECRET: randomBytes(32).toString("hex"),
      IP_HASH_SECRET: randomBytes(32).toString("hex"),
    };
    const [a, b] = await Promise.all([startProcess(env), startProcess(env)]);
    children.push(a.child, b.child);
    const result = await loadVisits({ urls: [a.url, b.url], code, total: 10_000, concurrency: 64 });
    expect(result.redirects).toBe(10_000);

    const exits = [exited(a.child), exited(b.child)];
    a.child.kill("SIGTERM");
    b.child.kill("SIGTERM");
    expect(await Promise.all(exits)).toEqual([0, 0]);

    const lifetime = await connection.db
      .selectFrom("referral_codes")
      .select("visits_total")
      .where("code", "=", code)
      .executeTakeFirstOrThrow();
    const days = await sql<{
      n: string;
    }>`select coalesce(sum(visits), 0)::text as n from visit_days where code = ${code}`.execute(
      connection.db,
    );
    await connection.close();
    expect(lifetime.visits_total).toBe(10_000n);
    expect(days.rows[0]?.n).toBe("10000");
    console.log(
      `two processes: ${result.redirects} visits in ${Math.round(result.durationMs)} ms (${Math.round(result.requestsPerSecond)} req/s), counted ${lifetime.visits_total}`,
    );
  }, 180_000);
});
