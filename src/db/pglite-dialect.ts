import type { PGlite } from "@electric-sql/pglite";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";

/**
 * A kysely dialect for PGlite (Postgres compiled to WASM, in-process). PGlite is one session, so the
 * driver hands out that session to one caller at a time: a transaction holds it from BEGIN to COMMIT,
 * which gives the same isolation a pooled connection would.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

const AFFECTING = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

class PGliteConnection implements DatabaseConnection {
  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (compiled.parameters.length === 0) {
      // No parameters: the simple protocol, which (like pg) accepts several statements, e.g. migrations.
      const results = await this.pglite.exec(compiled.sql);
      const last = results.at(-1);
      return toResult<R>(last?.rows as R[] | undefined, last?.affectedRows, compiled.sql);
    }
    const result = await this.pglite.query<R>(compiled.sql, [...compiled.parameters]);
    return toResult<R>(result.rows, result.affectedRows, compiled.sql);
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported by this driver
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("PGlite driver does not support streaming");
  }
}

function toResult<R>(rows: R[] | undefined, affected: number | undefined, sqlText: string): QueryResult<R> {
  const command = /^\s*(?:with\b[\s\S]*?\)\s*)?(\w+)/i.exec(sqlText)?.[1]?.toUpperCase() ?? "";
  return {
    rows: rows ?? [],
    numAffectedRows: AFFECTING.has(command) || affected ? BigInt(affected ?? 0) : undefined,
  };
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init() {
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.release = release;
    return this.connection;
  }

  async releaseConnection() {
    const release = this.release;
    this.release = undefined;
    release?.();
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : "";
    const access = settings.accessMode ? ` ${settings.accessMode}` : "";
    await connection.executeQuery({ sql: `begin${isolation}${access}`, parameters: [] } as never);
  }
  async commitTransaction(connection: DatabaseConnection) {
    await connection.executeQuery({ sql: "commit", parameters: [] } as never);
  }
  async rollbackTransaction(connection: DatabaseConnection) {
    await connection.executeQuery({ sql: "rollback", parameters: [] } as never);
  }
  async savepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery({ sql: `savepoint ${name}`, parameters: [] } as never);
  }
  async rollbackToSavepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery({ sql: `rollback to savepoint ${name}`, parameters: [] } as never);
  }
  async releaseSavepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery({ sql: `release savepoint ${name}`, parameters: [] } as never);
  }

  async destroy() {
    if (!this.pglite.closed) await this.pglite.close();
  }
}
