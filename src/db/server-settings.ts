import { sql } from "kysely";
import type { DbOrTx } from "./connect.js";

/**
 * The PostgreSQL settings this service depends on that a deployment can get wrong, read once at boot
 * (src/server.ts warns). `autovacuum`: without it no table is ever analyzed, and a plan made while a
 * table was small — a scan looks cheapest on a few pages — is kept by every connection as the table
 * grows (docs/runbook.md "PostgreSQL settings"; docs/scaling.md "A year of data").
 */
export async function serverSettings(db: DbOrTx): Promise<{ autovacuum: boolean }> {
  const { rows } = await sql<{
    autovacuum: string;
  }>`SELECT current_setting('autovacuum') AS autovacuum`.execute(db);
  return { autovacuum: rows[0]?.autovacuum === "on" };
}
