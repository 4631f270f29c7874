import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { sql } from "kysely";
import { packageRoot } from "../lib/package-root.js";
import type { Db } from "./connect.js";

export const MIGRATIONS_DIR = path.join(packageRoot(), "migrations");

/**
 * The advisory lock key of schema changes (database-wide): `migrate` holds it as a session lock for its
 * whole run, `connect` takes it around `CREATE SCHEMA`.
 */
export const MIGRATION_LOCK_KEY = 7_312_001;

export interface MigrationResult {
  /** Migrations this run applied, in order. */
  applied: string[];
  /** Migrations that had landed before this run. */
  alreadyApplied: string[];
}

/** A migration run that stopped: names the migration and what had been applied before it. */
export class MigrationError extends Error {
  constructor(
    message: string,
    /** The migration that failed (undefined when the run was refused before any migration). */
    readonly migration: string | undefined,
    readonly result: MigrationResult,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MigrationError";
  }
}

function list(names: readonly string[]): string {
  return names.length > 0 ? names.join(", ") : "none";
}

/**
 * Applies `migrations/NNNN_name.sql` in order, each in its own transaction. The whole run — creating
 * the bookkeeping table included — holds a session-level advisory lock on one dedicated connection,
 * so instances booting at once on a fresh database wait for each other instead of racing on
 * `CREATE TABLE`. Refused, with nothing applied: a landed migration whose text changed (migrations are
 * append-only) and a database carrying migrations this build has no file for (it was migrated by a
 * newer build). Returns what it applied and what had already landed.
 * @throws MigrationError naming the failed migration and what was applied before it.
 */
export async function migrate(db: Db, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const files = readdirSync(dir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort();
  const known = new Set(files);
  const result: MigrationResult = { applied: [], alreadyApplied: [] };

  return db.connection().execute(async (session) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(session);
    try {
      await sql`CREATE TABLE IF NOT EXISTS twinrail_migrations (
          name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`.execute(
        session,
      );
      const landed = new Map(
        (
          await sql<{ name: string; checksum: string }>`
            SELECT name, checksum FROM twinrail_migrations ORDER BY name`.execute(session)
        ).rows.map((row) => [row.name, row.checksum]),
      );
      const unknown = [...landed.keys()].filter((name) => !known.has(name));
      if (unknown.length > 0) {
        throw new MigrationError(
          `the database has migrations this build does not know: ${unknown.join(", ")}. It was migrated by a ` +
            `newer build (or a file is missing from ${dir}); run that build, or restore the file, instead of this one`,
          undefined,
          result,
        );
      }

      for (const name of files) {
        const text = readFileSync(path.join(dir, name), "utf8");
        const checksum = createHash("sha256").update(text).digest("hex");
        const landedChecksum = landed.get(name);
        if (landedChecksum !== undefined) {
          if (landedChecksum !== checksum) {
            throw new MigrationError(
              `migration ${name} changed after it was applied; add a new migration instead ` +
                `(applied by this run before it: ${list(result.applied)})`,
              name,
              result,
            );
          }
          result.alreadyApplied.push(name);
          continue;
        }
        try {
          await session.transaction().execute(async (trx) => {
            await sql.raw(text).execute(trx);
            await sql`INSERT INTO twinrail_migrations (name, checksum) VALUES (${name}, ${checksum})`.execute(
              trx,
            );
          });
        } catch (error) {
          throw new MigrationError(
            `migration ${name} failed and was rolled back: ${error instanceof Error ? error.message : String(error)}. ` +
              `Applied by this run before it: ${list(result.applied)}; already applied before this run: ${list(result.alreadyApplied)}`,
            name,
            result,
            { cause: error },
          );
        }
        result.applied.push(name);
      }
      return result;
    } finally {
      // A session that broke has lost its lock with it; otherwise the lock goes back before the connection does.
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(session).catch(() => undefined);
    }
  });
}

/** One migration as `twinrail migrate status` shows it. */
export interface MigrationState {
  name: string;
  /** `applied`, `pending`, `changed` (applied, file edited since) or `unknown` (applied, no file). */
  state: "applied" | "pending" | "changed" | "unknown";
  appliedAt: string | null;
}

/** What has landed and what is pending, without applying anything (and without the migration lock). */
export async function migrationStatus(db: Db, dir = MIGRATIONS_DIR): Promise<MigrationState[]> {
  const files = readdirSync(dir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort();
  const exists = await sql<{
    table: string | null;
  }>`SELECT to_regclass('twinrail_migrations')::text AS table`.execute(db);
  const landed = new Map<string, { checksum: string; appliedAt: string }>();
  if (exists.rows[0]?.table) {
    const rows = await sql<{ name: string; checksum: string; applied_at: Date | string }>`
      SELECT name, checksum, applied_at FROM twinrail_migrations ORDER BY name`.execute(db);
    for (const row of rows.rows)
      landed.set(row.name, { checksum: row.checksum, appliedAt: new Date(row.applied_at).toISOString() });
  }
  const states: MigrationState[] = files.map((name) => {
    const row = landed.get(name);
    if (!row) return { name, state: "pending", appliedAt: null };
    const checksum = createHash("sha256")
      .update(readFileSync(path.join(dir, name), "utf8"))
      .digest("hex");
    return { name, state: checksum === row.checksum ? "applied" : "changed", appliedAt: row.appliedAt };
  });
  for (const [name, row] of landed)
    if (!files.includes(name)) states.push({ name, state: "unknown", appliedAt: row.appliedAt });
  return states.sort((a, b) => (a.name < b.name ? -1 : 1));
}
