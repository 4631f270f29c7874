import { type Config, loadConfig } from "../config.js";
import { type Connection, connect } from "../db/connect.js";
import { migrate } from "../db/migrate.js";
import { type Running, startServer } from "../server.js";

/** What every command's action returns: the process exit code (-1: keep running, `start`). */
export type ExitCode = number;

export function config(): Readonly<Config> {
  return loadConfig();
}

/** JSON with money (bigint) as decimal strings, like the API. */
export function json(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v), 2);
}

/** Prints `value` as JSON with `--json`, else the human form. */
export function print(asJson: boolean | undefined, value: unknown, human: () => string): void {
  console.log(asJson ? json(value) : human());
}

/** A fixed-width table, for humans. */
export function table(rows: Array<Record<string, string>>, columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(columns), ...rows.map((row) => line(columns.map((column) => row[column] ?? "")))].join("\n");
}

/** A database connection (DATABASE_URL or DATA_DIR), migrated unless `migrated: false`, closed after `fn`. */
export async function withDatabase<T>(
  cfg: Readonly<Config>,
  fn: (connection: Connection) => Promise<T>,
  options: { migrated?: boolean } = {},
): Promise<T> {
  const connection = await connect({
    databaseUrl: cfg.DATABASE_URL,
    directUrl: cfg.DATABASE_DIRECT_URL,
    poolMode: cfg.DATABASE_POOL_MODE,
    dataDir: cfg.DATA_DIR,
    schema: cfg.DATABASE_SCHEMA,
  });
  try {
    if (options.migrated !== false) await migrate(connection.sessionDb);
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

/** The whole service without jobs and on an ephemeral port (database, chain, minter), closed after `fn`. */
export async function withService<T>(
  cfg: Readonly<Config>,
  fn: (running: Running) => Promise<T>,
): Promise<T> {
  const running = await startServer({ ...cfg, JOBS: false, PORT: 0 });
  try {
    return await fn(running);
  } finally {
    await running.close();
  }
}
