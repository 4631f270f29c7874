import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Kysely, sql } from "kysely";

export const MIGRATIONS_DIR = path.resolve(__dirname, "../../migrations");

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies `migrations/NNNN_name.sql` in order, each in its own transaction, under an advisory lock so
 * that two instances booting at once do not race. A landed migration whose text changed is refused:
 * migrations are append-only.
 */
export async function migrate(db: Kysely<unknown>, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = readdirSync(dir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort();
  await sql`CREATE TABLE IF NOT EXISTS twinrail_migrations (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`.execute(
    db,
  );

  const result: MigrationResult = { applied: [], alreadyApplied: [] };
  for (const name of files) {
    const text = readFileSync(path.join(dir, name), "utf8");
    const checksum = createHash("sha256").update(text).digest("hex");
    await db.transaction().execute(async (trx) => {
      // Transaction-scoped: released at commit, so a crash can never leave it held.
      await sql`SELECT pg_advisory_xact_lock(7312001)`.execute(trx);
      const existing = await sql<{ checksum: string }>`
        SELECT checksum FROM twinrail_migrations WHERE name = ${name}`.execute(trx);
      const row = existing.rows[0];
      if (row) {
        if (row.checksum !== checksum) {
          throw new Error(`migration ${name} changed after it was applied; add a new migration instead`);
        }
        result.alreadyApplied.push(name);
        return;
      }
      await sql.raw(text).execute(trx);
      await sql`INSERT INTO twinrail_migrations (name, checksum) VALUES (${name}, ${checksum})`.execute(trx);
      result.applied.push(name);
    });
  }
  return result;
}
