import pg from "pg";
import { TEST_DATABASE_URL, TEST_DB } from "./harness.js";

/**
 * PostgreSQL's deadlock count for the test database (`pg_stat_database.deadlocks`; 0 on PGlite, which
 * runs one transaction at a time). Tests that race distinct events compare it before and after: the
 * retry at the transaction boundary would hide a deadlock from the results, not from this counter.
 */
export async function deadlocks(): Promise<bigint> {
  if (TEST_DB !== "postgres") return 0n;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query(
      "SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()",
    );
    return BigInt(result.rows[0].n);
  } finally {
    await client.end();
  }
}
