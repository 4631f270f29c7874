import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, type Transaction } from "kysely";
import pg from "pg";
import { MIGRATION_LOCK_KEY } from "./migrate.js";
import { PGliteDialect } from "./pglite-dialect.js";
import type { Database } from "./schema.js";

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: use cases accept both. */
export type DbOrTx = Kysely<Database>;

export interface ConnectOptions {
  /** postgres://… for a real server; absent means in-process PGlite. */
  databaseUrl?: string;
  /** Directory for PGlite's files; absent means in memory. */
  dataDir?: string;
  /** Schema to use (created if missing); isolates tests and side-by-side installs. */
  schema?: string;
  /** Pool size for Postgres. */
  poolSize?: number;
}

export interface Connection {
  db: Db;
  kind: "postgres" | "pglite";
  /** Session-level advisory locks need one dedicated session; this runs `fn` on one. */
  close(): Promise<void>;
}

// int8 → bigint for money and counters, as PGlite already does; numeric stays a string (wei).
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

/** Opens the database: real Postgres when `databaseUrl` is set, otherwise in-process PGlite. */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const schema = options.schema;
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    if (schema) {
      const client = await pool.connect();
      try {
        // One implicit transaction under migrate's lock: instances booting at once do not race on CREATE SCHEMA.
        await client.query(
          `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}); CREATE SCHEMA IF NOT EXISTS ${schema}`,
        );
      } finally {
        client.release();
      }
    }
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, kind: "postgres", close: () => db.destroy() };
  }

  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  // PGlite returns int8 as a JS number when it fits and a bigint when it does not; money must always
  // be bigint, so int8 is parsed the same way as with pg above.
  const parsers = { 20: (value: string) => BigInt(value) };
  const pglite = options.dataDir ? new PGlite(options.dataDir, { parsers }) : new PGlite({ parsers });
  await pglite.waitReady;
  if (schema) {
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: "pglite", close: () => db.destroy() };
}
