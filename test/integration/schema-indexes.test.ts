import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../../src/db/connect.js";
import { migrate } from "../../src/db/migrate.js";
import { TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";

const schema = `idx_${randomBytes(6).toString("hex")}`;
let connection: Connection | undefined;

afterAll(async () => {
  await connection?.close();
  if (TEST_DB !== "postgres") return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe(`the migrated schema (${TEST_DB})`, () => {
  it("has no index that another index of its table already serves", async () => {
    connection =
      TEST_DB === "postgres"
        ? await connect({ databaseUrl: TEST_DATABASE_URL, schema })
        : await connect({ schema });
    await migrate(connection.db);
    // A non-unique plain-column index whose key columns are the leading columns of another index of the
    // same table, with the same predicate, serves no lookup the wider one does not; every insert pays
    // for both (migration 0020 dropped two). Unique indexes are constraints and stay; expression
    // indexes are left out of the comparison.
    const redundant = await sql<{ narrow: string; wide: string }>`
      SELECT a.indexrelid::regclass::text AS narrow, b.indexrelid::regclass::text AS wide
        FROM pg_index a
        JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
        JOIN pg_class t ON t.oid = a.indrelid
       WHERE t.relnamespace = current_schema()::regnamespace
         AND NOT a.indisunique AND a.indexprs IS NULL AND b.indexprs IS NULL
         AND a.indnkeyatts <= b.indnkeyatts
         AND (b.indkey::int2[])[0:a.indnkeyatts - 1] = (a.indkey::int2[])[0:a.indnkeyatts - 1]
         AND coalesce(pg_get_expr(a.indpred, a.indrelid), '') = coalesce(pg_get_expr(b.indpred, b.indrelid), '')
       ORDER BY 1, 2`.execute(connection.db);
    expect(redundant.rows).toEqual([]);
  });
});
