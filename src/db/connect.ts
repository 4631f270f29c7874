import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, type Transaction } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import { createLogger } from "../logger.js";
import { MIGRATION_LOCK_KEY } from "./migrate.js";
import { PGliteDialect } from "./pglite-dialect.js";
import { usePreparedStatements } from "./prepared.js";
import type { Database } from "./schema.js";

declare const databaseBrand: unique symbol;

/**
 * The database itself, never a transaction: what a function that opens its own transaction takes.
 * `Transaction` extends `Kysely`, so without the brand a transaction would type-check here and kysely
 * would refuse the nested `.transaction()` only at run time.
 */
export interface Db extends Kysely<Database> {
  readonly [databaseBrand]: true;
}
/** An open transaction: what a statement that must run inside the caller's transaction takes. */
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: statements that run in whatever the caller holds. */
export type DbOrTx = Kysely<Database>;

/** Marks a Kysely instance as the database (not a transaction), e.g. a copy made with `withPlugin`. */
export function asDb(db: Kysely<Database>): Db {
  if (db.isTransaction) throw new TypeError("asDb: a transaction is not the database");
  return db as Db;
}

export interface ConnectOptions {
  /** postgres://… for a real server; absent means in-process PGlite. */
  databaseUrl?: string;
  /**
   * Postgres: a direct (or session-pooled) connection for what needs a real session — migrations and
   * the minter, which hold session advisory locks. Absent: `databaseUrl` serves for both.
   */
  directUrl?: string;
  /**
   * Postgres: `transaction` when `databaseUrl` is a transaction-pooling PgBouncer. Then no startup
   * parameters are sent on it (PgBouncer refuses them, and a session setting would not follow the
   * next transaction): `search_path` must come from the server side (the PgBouncer `[databases]`
   * entry's `connect_query`, or `ALTER ROLE … SET search_path`), and boot checks that it does.
   * The `directUrl` connections keep the startup parameters. Default `session`.
   */
  poolMode?: "session" | "transaction";
  /** Directory for PGlite's files; absent means in memory. */
  dataDir?: string;
  /** In-memory PGlite: start from this snapshot (`src/db/pglite-template.ts`) instead of initdb. */
  pgliteTemplate?: Blob;
  /** Schema to use (created if missing); isolates tests and side-by-side installs. */
  schema?: string;
  /** Pool size for Postgres. */
  poolSize?: number;
  /**
   * Postgres: how long a caller waits for a pooled connection — opening a new one, or queueing for a
   * busy pool — before it fails with a "database unavailable" error (ms). Bounds every request during
   * an outage. Default 10000.
   */
  connectionTimeoutMs?: number;
  /**
   * Postgres: how long the first connection at boot may take when it times out (a loaded machine, an
   * event loop busy starting the embedded chain): retried until then. Refused or rejected (server
   * down, wrong password, no database) fails at once. Default 60000.
   */
  bootTimeoutMs?: number;
  /** Postgres: the server ends a session left idle inside a transaction this long (ms; 0 = off). Default 60000. */
  idleInTransactionTimeoutMs?: number;
  /** Postgres: `statement_timeout` per session (ms; 0 = the server's setting). Default 0. */
  statementTimeoutMs?: number;
  /** Where lost and restored connections are reported; default a pino logger at `$LOG_LEVEL`. */
  logger?: Pick<Logger, "error" | "warn" | "info">;
}

/** What the pool has seen: `/readyz` reports it next to its own probe. */
export interface DatabaseHealth {
  /** False from a lost connection until a new one is opened. */
  ok: boolean;
  /** The last connection error (code and message only, never the URL). */
  lastError: string | null;
  lastErrorAt: Date | null;
  /** Connections lost since boot. */
  errors: number;
  /** Pool gauges (0 for PGlite). */
  total: number;
  idle: number;
  waiting: number;
}

export interface Connection {
  db: Db;
  /**
   * Connections that are real sessions (`directUrl`, else the same pool as `db`): for migrations
   * and the minter, whose advisory locks live as long as a session.
   */
  sessionDb: Db;
  kind: "postgres" | "pglite";
  /** Pool health as seen by the driver (PGlite is in-process: always ok). */
  health(): DatabaseHealth;
  close(): Promise<void>;
}

// int8 → bigint for money and counters, as PGlite already does; numeric stays a string (wei).
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => BigInt(value));

const LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);
const healthOf = new WeakMap<object, () => DatabaseHealth>();

/**
 * Copies made with `withPlugin`/`withTables` share the original's executor adapter (kysely's
 * internal `getExecutor()`), so the health of `db.withPlugin(…)` is found through it.
 */
function adapterOf(db: Db): object | undefined {
  try {
    return (db as unknown as { getExecutor?: () => { adapter?: object } }).getExecutor?.().adapter;
  } catch {
    return undefined;
  }
}

function registerHealth(db: Db, health: () => DatabaseHealth) {
  healthOf.set(db, health);
  const adapter = adapterOf(db);
  if (adapter) healthOf.set(adapter, health);
}

/** The pool health of a database opened by `connect`, or of a plugin copy of it (undefined otherwise). */
export function databaseHealth(db: Db): DatabaseHealth | undefined {
  const direct = healthOf.get(db);
  if (direct) return direct();
  const adapter = adapterOf(db);
  return adapter ? healthOf.get(adapter)?.() : undefined;
}

/** Opens the database: real Postgres when `databaseUrl` is set, otherwise in-process PGlite. */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const schema = options.schema;
  if (options.databaseUrl) return connectPostgres(options.databaseUrl, options);

  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  // PGlite returns int8 as a JS number when it fits and a bigint when it does not; money must always
  // be bigint, so int8 is parsed the same way as with pg above.
  const parsers = { 20: (value: string) => BigInt(value) };
  let pglite = options.dataDir
    ? new PGlite(options.dataDir, { parsers })
    : new PGlite({ parsers, ...(options.pgliteTemplate ? { loadDataDir: options.pgliteTemplate } : {}) });
  try {
    await pglite.waitReady;
  } catch (error) {
    // A snapshot that does not load (cut short, another build's) costs only the time: start fresh.
    if (!options.pgliteTemplate || options.dataDir) throw error;
    pglite = new PGlite({ parsers });
    await pglite.waitReady;
  }
  if (schema) {
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
  }
  const db = asDb(new Kysely<Database>({ dialect: new PGliteDialect(pglite) }));
  const health = (): DatabaseHealth => ({
    ok: true,
    lastError: null,
    lastErrorAt: null,
    errors: 0,
    total: 0,
    idle: 0,
    waiting: 0,
  });
  registerHealth(db, health);
  return { db, sessionDb: db, kind: "pglite", health, close: () => db.destroy() };
}

/**
 * A pool that survives the server going away (restart, failover): every client has an 'error'
 * listener (an unhandled one kills the process), a dead client is dropped on release, and waiting for
 * a connection is bounded, so a request during an outage fails fast with an error that
 * `isDatabaseUnavailable` recognises (503 + Retry-After) instead of hanging.
 */
async function connectPostgres(databaseUrl: string, options: ConnectOptions): Promise<Connection> {
  const schema = options.schema;
  const settings = [
    ...(schema ? [`search_path=${schema}`] : []),
    `idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs ?? 60_000}`,
    ...(options.statementTimeoutMs ? [`statement_timeout=${options.statementTimeoutMs}`] : []),
  ];
  const startupOptions = settings.map((setting) => `-c ${setting}`).join(" ");
  const transactionPooled = options.poolMode === "transaction";
  const newPool = (connectionString: string, max: number, withOptions: boolean) =>
    new pg.Pool({
      connectionString,
      max,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
      // A peer that vanished without a FIN/RST (failover, network cut) is noticed by TCP keepalive.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(withOptions ? { options: startupOptions } : {}),
    });
  const pool = newPool(databaseUrl, options.poolSize ?? 10, !transactionPooled);
  // Migrations and the minter: a lock session plus the transactions of one run at a time.
  const directPool =
    options.directUrl && options.directUrl !== databaseUrl ? newPool(options.directUrl, 4, true) : undefined;
  let fallbackLogger: ConnectOptions["logger"];
  const log = () => {
    if (options.logger) return options.logger;
    if (!fallbackLogger) {
      const level = process.env.LOG_LEVEL ?? "info";
      fallbackLogger = createLogger(LEVELS.has(level) ? level : "info").child({ component: "db" });
    }
    return fallbackLogger;
  };
  const state = { ok: true, lastError: null as string | null, lastErrorAt: null as Date | null, errors: 0 };
  let lostSinceReport = 0;

  const lost = (error: unknown) => {
    state.errors++;
    state.lastError = describeDbError(error);
    state.lastErrorAt = new Date();
    // Once per outage: the first lost connection is logged, the others are counted.
    if (state.ok) log().error({ db: state.lastError }, "database connection lost");
    state.ok = false;
    lostSinceReport++;
  };
  // Emitted for an idle client whose server went away; without a listener it is fatal.
  pool.on("error", () => undefined);
  directPool?.on("error", () => undefined);
  directPool?.on("connect", (client) => client.on("error", lost));
  pool.on("connect", (client) => {
    // A checked-out client (a transaction between statements, the minter's session) emits 'error'
    // too; it is dropped from the pool when released (pg-pool checks that it is still queryable).
    client.on("error", lost);
    if (!transactionPooled) usePreparedStatements(client);
    if (!state.ok) {
      log().info(
        { lostConnections: lostSinceReport, lastError: state.lastError },
        "database connection restored",
      );
      state.ok = true;
      lostSinceReport = 0;
    }
  });

  // Fail at boot with a message that names the server (never the password) when it is unreachable.
  let client: pg.PoolClient;
  const bootDeadline = Date.now() + (options.bootTimeoutMs ?? 60_000);
  for (;;) {
    try {
      client = await pool.connect();
      break;
    } catch (error) {
      if (isConnectTimeout(error) && Date.now() < bootDeadline) continue;
      await pool.end().catch(() => undefined);
      await directPool?.end().catch(() => undefined);
      throw new Error(`PostgreSQL is unavailable at ${redactUrl(databaseUrl)}: ${describeDbError(error)}`, {
        cause: error,
      });
    }
  }
  try {
    // One implicit transaction under migrate's lock: instances booting at once do not race on CREATE SCHEMA.
    if (schema)
      await client.query(
        `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}); CREATE SCHEMA IF NOT EXISTS ${schema}`,
      );
    // Behind a transaction pooler the schema comes from the server side: refuse to run in another one.
    if (transactionPooled) {
      const { rows } = await client.query<{ schema: string | null }>("SELECT current_schema() AS schema");
      const actual = rows[0]?.schema ?? null;
      if (actual !== (schema ?? "public")) {
        await pool.end().catch(() => undefined);
        await directPool?.end().catch(() => undefined);
        throw new Error(
          `DATABASE_POOL_MODE=transaction: the pooled connection's schema is ${actual ?? "none"}, not ` +
            `${schema ?? "public"}. No search_path is sent through a transaction pooler; set it on the ` +
            `server side (PgBouncer [databases] entry: connect_query='SET search_path TO ${schema ?? "public"}', ` +
            "or ALTER ROLE … SET search_path)",
        );
      }
    }
  } finally {
    client.release();
  }
  if (transactionPooled && !directPool)
    log().warn(
      {},
      "DATABASE_POOL_MODE=transaction without DATABASE_DIRECT_URL: migrations and the minter's " +
        "session advisory locks go through the pooler, where they do not hold",
    );
  const db = asDb(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  const sessionDb = directPool
    ? asDb(new Kysely<Database>({ dialect: new PostgresDialect({ pool: directPool }) }))
    : db;
  const health = (): DatabaseHealth => ({
    ...state,
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  });
  registerHealth(db, health);
  return {
    db,
    sessionDb,
    kind: "postgres",
    health,
    close: async () => {
      await db.destroy();
      if (sessionDb !== db) await sessionDb.destroy();
    },
  };
}

/** SQLSTATEs after which the statement may succeed on a new connection: the server is going or gone. */
const UNAVAILABLE_SQLSTATES = new Set([
  "57P01", // admin_shutdown (fast shutdown, pg_terminate_backend)
  "57P02", // crash_shutdown (immediate shutdown, a backend crashed)
  "57P03", // cannot_connect_now (starting up, shutting down, recovery)
  "53300", // too_many_connections
]);
const UNAVAILABLE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/, // unexpectedly / due to connection timeout
  /^timeout exceeded when trying to connect/, // pool connectionTimeoutMillis
  /is not queryable/, // a client whose connection already failed
  /^the database system is (starting up|shutting down|in recovery mode)/,
];

/**
 * True when `error` means the database cannot be reached right now (connection refused, reset or
 * terminated, server shutting down or starting, pool wait timed out) — a retry later may succeed,
 * and nothing was committed by the failed statement unless it was the COMMIT itself.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 4) return false;
  const { code, message, cause, errors } = error as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (
    typeof code === "string" &&
    // Class 08 is "connection exception".
    (UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || UNAVAILABLE_ERRNOS.has(code))
  )
    return true;
  if (typeof message === "string" && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message)))
    return true;
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}

/** `CODE: message`, one line, for logs and `/readyz` (pg errors never carry the password). */
export function describeDbError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const message =
    error.message ||
    (error as { errors?: unknown[] }).errors?.map((inner) => (inner as Error).message).join("; ") ||
    error.name;
  return (typeof code === "string" ? `${code}: ${message}` : message).split("\n")[0]!.slice(0, 300);
}

function isConnectTimeout(error: unknown): boolean {
  const message = error instanceof Error ? error.message : "";
  return /timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(
    message,
  );
}

function redactUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname || "localhost"}:${url.port || "5432"}${url.pathname}`;
  } catch {
    return "DATABASE_URL";
  }
}
