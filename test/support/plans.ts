import pg from "pg";

const pgClient = pg.Client;

/** A node of `EXPLAIN (FORMAT JSON)`'s plan tree. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  "Index Name"?: string;
  "Index Cond"?: string;
  Plans?: PlanNode[];
}

/** The relations a plan reads with a sequential scan, in plan order. */
export function seqScans(node: PlanNode, found: string[] = []): string[] {
  if (node["Node Type"] === "Seq Scan" && node["Relation Name"]) found.push(node["Relation Name"]);
  for (const child of node.Plans ?? []) seqScans(child, found);
  return found;
}

/** An index's first key column, and whether it is partial (`pg_index`). */
export interface IndexShape {
  table: string;
  first: string;
  partial: boolean;
}

/** Every index of `schema` by name: its first key column, and whether it is partial. */
export async function indexShapes(client: pg.Client, schema: string): Promise<Map<string, IndexShape>> {
  const { rows } = await client.query<{ name: string; table: string; first: string; partial: boolean }>(
    `SELECT c.relname AS name, (SELECT t.relname FROM pg_class t WHERE t.oid = i.indrelid) AS table,
            a.attname AS first, i.indpred IS NOT NULL AS partial
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE c.relnamespace = $1::regnamespace`,
    [schema],
  );
  return new Map(rows.map((row) => [row.name, { table: row.table, first: row.first, partial: row.partial }]));
}

/** The tables of `schema`. */
export async function schemaTables(client: pg.Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ t: string }>(
    "SELECT tablename AS t FROM pg_tables WHERE schemaname = $1",
    [schema],
  );
  return rows.map((row) => row.t);
}

/** Those of `tables` (on `client`'s search path) holding more than `rows` rows, counted exactly. */
export async function tablesOver(
  client: pg.Client,
  tables: Iterable<string>,
  rows: number,
): Promise<Set<string>> {
  const over = new Set<string>();
  for (const table of tables) {
    const { rows: counted } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    if (counted[0]!.n > rows) over.add(table);
  }
  return over;
}

/**
 * The tables a plan reaches through a whole index rather than a lookup: an index scan of a full
 * (not partial) index whose condition does not name the index's first column walks every entry —
 * as much as a scan, though no "Seq Scan" shows (a settlements update by `payout_id` walked the
 * (vendor_id, status, …) index so, filtering on its second column). Not under a LIMIT: a page read
 * in the index's order stops after its rows.
 */
export function unanchoredIndexScans(
  node: PlanNode,
  indexes: Map<string, IndexShape>,
  found: string[] = [],
  limited = false,
): string[] {
  // Under a LIMIT, an index read in its order stops after the rows asked for (a page, newest first).
  const underLimit = limited || node["Node Type"] === "Limit";
  const index = node["Index Name"] ? indexes.get(node["Index Name"]) : undefined;
  if (index && !index.partial && !underLimit && node["Node Type"].includes("Index")) {
    const condition = node["Index Cond"] ?? "";
    if (!new RegExp(`\\b${index.first}\\b`).test(condition)) {
      found.push(index.table);
    }
  }
  for (const child of node.Plans ?? []) unanchoredIndexScans(child, indexes, found, underLimit);
  return found;
}

/**
 * The rows each relation's scans read, from `EXPLAIN (ANALYZE, FORMAT JSON)`: what each scan returned
 * (per loop, times its loops) and what its filter or recheck threw away.
 */
export function rowsRead(node: PlanNode, found: Record<string, number> = {}): Record<string, number> {
  const relation = node["Relation Name"];
  if (relation && node["Node Type"].endsWith("Scan")) {
    const loops = node["Actual Loops"] ?? 1;
    const read =
      ((node["Actual Rows"] ?? 0) +
        (node["Rows Removed by Filter"] ?? 0) +
        (node["Rows Removed by Index Recheck"] ?? 0)) *
      loops;
    found[relation] = (found[relation] ?? 0) + read;
  }
  for (const child of node.Plans ?? []) rowsRead(child, found);
  return found;
}

/** A captured parameter as an SQL literal, the way the driver sends it (lists as array literals). */
export function sqlLiteral(client: pg.Client, value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Date) return client.escapeLiteral(value.toISOString());
  if (Array.isArray(value)) {
    const items = value.map((item) =>
      item === null ? "NULL" : `"${String(item).replace(/[\\"]/g, "\\$&")}"`,
    );
    return client.escapeLiteral(`{${items.join(",")}}`);
  }
  return client.escapeLiteral(String(value));
}

/** A statement as the driver sent it. */
export interface CapturedStatement {
  text: string;
  values: unknown[];
}

/**
 * The statements every `pg.Client` of this process sends while `during` runs, those whose text
 * `match` accepts (the service under test runs in the same process).
 */
export async function captureStatements(
  match: (text: string) => boolean,
  during: () => Promise<void>,
): Promise<CapturedStatement[]> {
  const captured: CapturedStatement[] = [];
  const original = pgClient.prototype.query;
  pgClient.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0] as { text?: string; values?: unknown[] } | string;
    const text = typeof config === "string" ? config : config?.text;
    if (text && match(text)) {
      const values = (typeof config === "string" ? args[1] : config.values) as unknown[] | undefined;
      captured.push({ text, values: values ?? [] });
    }
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    await during();
  } finally {
    pgClient.prototype.query = original;
  }
  return captured;
}

/**
 * The tables an admin writes (catalog, keys, coupons, tiers, endpoints, singletons): a scan of one
 * stays as cheap as it is. Every other table grows with traffic.
 */
export const CONFIGURATION_TABLES: ReadonlySet<string> = new Set([
  "vendors",
  "products",
  "api_keys",
  "coupons",
  "commission_tiers",
  "webhook_endpoints",
  "code_cache_version",
  "reconcile_checkpoint",
  "twinrail_migrations",
]);

/**
 * The plan of a captured statement as the server would run it, with the values it was sent with
 * (PREPARE, then EXPLAIN EXECUTE on `client`, whose session settings apply). `analyze`: run it too
 * (inside the caller's transaction, which should roll back), with its actual rows.
 */
export async function explainCaptured(
  client: pg.Client,
  statement: CapturedStatement,
  options: { analyze?: boolean } = {},
): Promise<PlanNode> {
  await client.query("DEALLOCATE ALL");
  await client.query(`PREPARE captured AS ${statement.text}`);
  const args = statement.values.map((value) => sqlLiteral(client, value)).join(", ");
  const { rows } = await client.query(
    `EXPLAIN (${options.analyze ? "ANALYZE, " : ""}FORMAT JSON) EXECUTE captured${args ? `(${args})` : ""}`,
  );
  return (rows[0]["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]!.Plan;
}
