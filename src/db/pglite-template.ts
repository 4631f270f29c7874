import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { writeFileAtomic } from "../lib/write-file-atomic.js";
import { asDb } from "./connect.js";
import { MIGRATIONS_DIR, migrate } from "./migrate.js";
import { PGliteDialect } from "./pglite-dialect.js";
import type { Database } from "./schema.js";

/**
 * A snapshot of an empty, fully migrated in-memory PGlite, so the embedded database of `npm start`
 * starts from files instead of running initdb and every migration again: about 0.9 s instead of
 * 2.5–3.5 s plus the migrations on this 2-core machine (measured with PGlite 0.5.16). The snapshot is
 * keyed by the PGlite version and the migrations' names and contents, so a changed migration or an
 * upgraded PGlite never loads a stale one; it holds no data (it is made from a fresh instance, never
 * from the running one). Written at install (the root `postinstall` runs scripts/pglite-snapshot.ts), or
 * else once, in the background, after the service is up.
 */
const PREFIX = "pglite-template-";

const pgliteVersion = (): string => {
  // The package does not export its package.json: found by walking up from its entry point.
  let dir = path.dirname(require.resolve("@electric-sql/pglite"));
  for (; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (!existsSync(manifest)) continue;
    const parsed = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; version?: string };
    if (parsed.name === "@electric-sql/pglite") return parsed.version ?? "unknown";
  }
  return "unknown";
};

/** The snapshot's file name for this build: PGlite version + every migration's name and text. */
export function templateFile(dir: string, migrationsDir = MIGRATIONS_DIR): string {
  const hash = createHash("sha256").update(pgliteVersion());
  for (const file of readdirSync(migrationsDir)
    .filter((name) => name.endsWith(".sql"))
    .sort()) {
    hash.update(`\0${file}\0`).update(readFileSync(path.join(migrationsDir, file)));
  }
  return path.join(dir, `${PREFIX}${hash.digest("hex").slice(0, 16)}.tar`);
}

/** The snapshot for this build, when one was written; undefined otherwise. */
export function loadTemplate(dir: string): Blob | undefined {
  const file = templateFile(dir);
  if (!existsSync(file)) return undefined;
  // Typed as a plain tar: PGlite untars it at once (an untyped gzip it first tries to untar as it is).
  return new Blob([readFileSync(file)], { type: "application/x-tar" });
}

/**
 * Writes this build's snapshot when it is missing (and removes snapshots of other builds): a fresh
 * PGlite, migrated, dumped, closed. Written atomically (writeFileAtomic), so a crash leaves no half file.
 */
export async function writeTemplate(dir: string): Promise<string | undefined> {
  const file = templateFile(dir);
  if (existsSync(file)) return undefined;
  mkdirSync(dir, { recursive: true });
  const pglite = new PGlite({ parsers: { 20: (value: string) => BigInt(value) } });
  const db = asDb(new Kysely<Database>({ dialect: new PGliteDialect(pglite) }));
  try {
    await migrate(db);
    // Uncompressed (~43 MB, a 16 MB WAL segment of it; gzip makes 5 MB): gunzipping it cost each start
    // ~0.25 s of CPU.
    const dump = await pglite.dumpDataDir("none");
    writeFileAtomic(file, Buffer.from(await dump.arrayBuffer()));
  } finally {
    await db.destroy();
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith(PREFIX) && path.join(dir, name) !== file)
      rmSync(path.join(dir, name), { force: true });
  }
  return file;
}
