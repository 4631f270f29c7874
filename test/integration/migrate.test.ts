import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../../src/db/connect.js";
import { MIGRATIONS_DIR, MigrationError, migrate } from "../../src/db/migrate.js";
import { TEST_DATABASE_URL, TEST_DB } from "../support/harness.js";

const MIGRATIONS = readdirSync(MIGRATIONS_DIR)
  .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
  .sort();

const schemas: string[] = [];
const freshSchema = () => {
  const schema = `mig_${randomBytes(6).toString("hex")}`;
  schemas.push(schema);
  return schema;
};
/** A fresh database: its own Postgres schema, or a new in-memory PGlite. */
const open = (schema = freshSchema(), poolSize?: number): Promise<Connection> =>
  TEST_DB === "postgres"
    ? connect({ databaseUrl: TEST_DATABASE_URL, schema, poolSize })
    : connect({ schema });

afterAll(async () => {
  if (TEST_DB !== "postgres" || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-migrations-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe(`migrate reports what it did (${TEST_DB})`, () => {
  it("returns what it applied, then what had already been applied", async () => {
    const connection = await open();
    try {
      expect(await migrate(connection.db)).toEqual({ applied: MIGRATIONS, alreadyApplied: [] });
      expect(await migrate(connection.db)).toEqual({ applied: [], alreadyApplied: MIGRATIONS });
    } finally {
      await connection.close();
    }
  });

  it("names the migration that failed and what was applied before it; the failed one leaves nothing", async () => {
    const dir = migrationsDir({
      "0001_first.sql": "CREATE TABLE mig_first (id int);",
      "0002_second.sql": "CREATE TABLE mig_second (id int);",
      "0003_broken.sql": "CREATE TABLE mig_broken (id int); SELECT * FROM no_such_table;",
      "0004_never.sql": "CREATE TABLE mig_never (id int);",
    });
    const connection = await open();
    try {
      await migrate(connection.db, migrationsDir({ "0001_first.sql": "CREATE TABLE mig_first (id int);" }));
      const error = await migrate(connection.db, dir).then(
        () => expect.unreachable("the broken migration was accepted"),
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(MigrationError);
      const failure = error as MigrationError;
      expect(failure.migration).toBe("0003_broken.sql");
      expect(failure.message).toContain("migration 0003_broken.sql failed");
      expect(failure.message).toContain("no_such_table");
      expect(failure.message).toContain("Applied by this run before it: 0002_second.sql");
      expect(failure.message).toContain("already applied before this run: 0001_first.sql");
      expect(failure.result).toEqual({ applied: ["0002_second.sql"], alreadyApplied: ["0001_first.sql"] });
      const landed = await sql<{ name: string }>`SELECT name FROM twinrail_migrations ORDER BY name`.execute(
        connection.db,
      );
      expect(landed.rows.map((row) => row.name)).toEqual(["0001_first.sql", "0002_second.sql"]);
      const broken = await sql<{ t: string | null }>`SELECT to_regclass('mig_broken')::text AS t`.execute(
        connection.db,
      );
      expect(broken.rows[0]?.t).toBeNull();
    } finally {
      await connection.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a database that carries migrations this build does not know, applying nothing", async () => {
    const connection = await open();
    try {
      await migrate(connection.db);
      await sql`INSERT INTO twinrail_migrations (name, checksum) VALUES ('9999_from_the_future.sql', 'x')`.execute(
        connection.db,
      );
      // The real files, plus one this database has not seen: nothing may be applied.
      const dir = migrationsDir({
        ...Object.fromEntries(
          MIGRATIONS.map((name) => [name, readFileSync(path.join(MIGRATIONS_DIR, name), "utf8")]),
        ),
        "9998_new_here.sql": "CREATE TABLE mig_new_here (id int);",
      });
      const error = await migrate(connection.db, dir).then(
        () => expect.unreachable("an unknown migration was accepted"),
        (reason: unknown) => reason as MigrationError,
      );
      expect(error).toBeInstanceOf(MigrationError);
      expect(error.message).toContain(
        "the database has migrations this build does not know: 9999_from_the_future.sql",
      );
      expect(error.result).toEqual({ applied: [], alreadyApplied: [] });
      const created = await sql<{ t: string | null }>`SELECT to_regclass('mig_new_here')::text AS t`.execute(
        connection.db,
      );
      expect(created.rows[0]?.t).toBeNull();
      rmSync(dir, { recursive: true, force: true });
    } finally {
      await connection.close();
    }
  });

  it.skipIf(TEST_DB !== "postgres")(
    "20 instances booting at once on a fresh schema all succeed, each migration applied once",
    async () => {
      const schema = freshSchema();
      const instances = 20;
      const connections = await Promise.allSettled(Array.from({ length: instances }, () => open(schema, 2)));
      const opened = connections.flatMap((c) => (c.status === "fulfilled" ? [c.value] : []));
      try {
        expect(
          connections
            .filter((c) => c.status === "rejected")
            .map((c) => String((c as PromiseRejectedResult).reason)),
        ).toEqual([]);
        const results = await Promise.allSettled(opened.map((connection) => migrate(connection.db)));
        const failures = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
        expect(failures).toEqual([]);
        const reports = results.map(
          (r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof migrate>>>).value,
        );
        const applied = reports.flatMap((report) => report.applied).sort();
        expect(applied).toEqual(MIGRATIONS);
        for (const report of reports)
          expect([...report.applied, ...report.alreadyApplied].sort()).toEqual(MIGRATIONS);
        const rows = await sql<{ name: string }>`SELECT name FROM twinrail_migrations ORDER BY name`.execute(
          opened[0]!.db,
        );
        expect(rows.rows.map((row) => row.name)).toEqual(MIGRATIONS);
      } finally {
        await Promise.all(opened.map((connection) => connection.close()));
      }
    },
    120_000,
  );
});
