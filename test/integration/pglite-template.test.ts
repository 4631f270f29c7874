import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "../../src/db/connect.js";
import { MIGRATIONS_DIR, migrate } from "../../src/db/migrate.js";
import { loadTemplate, templateFile, writeTemplate } from "../../src/db/pglite-template.js";
import { TEST_DB } from "../support/harness.js";

/**
 * The embedded database's snapshot: written once from a fresh migrated instance, loaded instead of
 * initdb + migrations, never stale (its name follows the migrations), and holding no data.
 */
describe.skipIf(TEST_DB !== "pglite")("embedded database snapshot (pglite)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-template-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is written once, and a database loaded from it is migrated and empty", async () => {
    writeFileSync(path.join(dir, "pglite-template-0000000000000000.tar.gz"), "stale");
    expect(loadTemplate(dir)).toBeUndefined();
    const file = await writeTemplate(dir);
    expect(file).toBe(templateFile(dir));
    expect(await writeTemplate(dir)).toBeUndefined(); // already there
    expect(readdirSync(dir)).toEqual([path.basename(file!)]); // the other build's snapshot is gone

    const started = performance.now();
    const connection = await connect({ pgliteTemplate: loadTemplate(dir) });
    const loadMs = performance.now() - started;
    try {
      const result = await migrate(connection.sessionDb);
      expect(result.applied).toEqual([]);
      expect(result.alreadyApplied.length).toBe(
        readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith(".sql")).length,
      );
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM members`.execute(
        connection.db,
      );
      expect(rows[0]!.n).toBe(0);
      console.info(`embedded database from the snapshot in ${Math.round(loadMs)} ms`);
    } finally {
      await connection.close();
    }
  });

  it("a snapshot that does not load costs only the time: the database starts fresh", async () => {
    const connection = await connect({ pgliteTemplate: new Blob([Buffer.from("not a tarball")]) });
    try {
      const result = await migrate(connection.sessionDb);
      expect(result.applied.length).toBeGreaterThan(0);
    } finally {
      await connection.close();
    }
  });

  it("is named after the migrations: another set of migrations gets another snapshot", () => {
    const other = mkdtempSync(path.join(tmpdir(), "twinrail-migrations-"));
    try {
      writeFileSync(path.join(other, "0001_init.sql"), "SELECT 1;");
      expect(templateFile(dir, other)).not.toBe(templateFile(dir));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
