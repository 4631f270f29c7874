import { sql } from "kysely";

/**
 * How a rollup read splits an instant range [from, to): the whole UTC days [firstDay, endDay) come from
 * the day rollups (rollup + unfolded deltas), the partial days at either end from the rows themselves,
 * `[from, a)` and `[b, to)` (either may be empty). An open end (undefined) has no edge.
 */
export interface DaySplit {
  /** First whole day (inclusive), `YYYY-MM-DD`, or `-infinity`. */
  firstDay: string;
  /** Day after the last whole day (exclusive), `YYYY-MM-DD`, or `infinity`. */
  endDay: string;
  /** The edges: rows whose instant is in one of these ranges are read from the tables. */
  edges: Array<{ from: Date; to: Date }>;
}

const DAY_MS = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function splitDays(from: Date | undefined, to: Date | undefined): DaySplit {
  const d1 = from ? Math.ceil(from.getTime() / DAY_MS) * DAY_MS : undefined;
  const d2 = to ? Math.floor(to.getTime() / DAY_MS) * DAY_MS : undefined;
  const edges: Array<{ from: Date; to: Date }> = [];
  // a = least(d1, to), b = greatest(d2, a): with no whole day between them the two edges meet.
  const a = d1 !== undefined && to ? Math.min(d1, to.getTime()) : d1;
  const b = d2 !== undefined && a !== undefined ? Math.max(d2, a) : d2;
  if (from && a !== undefined && a > from.getTime()) edges.push({ from, to: new Date(a) });
  if (to && b !== undefined && to.getTime() > b) edges.push({ from: new Date(b), to });
  return {
    firstDay: d1 !== undefined ? day(d1) : "-infinity",
    endDay: d2 !== undefined ? day(d2) : "infinity",
    edges,
  };
}

/** `column` falls in one of the edges (false when there is none). */
export function inEdges(column: string, split: DaySplit) {
  if (split.edges.length === 0) return sql<boolean>`false`;
  return sql<boolean>`(${sql.join(
    split.edges.map((edge) => sql`(${sql.ref(column)} >= ${edge.from} AND ${sql.ref(column)} < ${edge.to})`),
    sql` OR `,
  )})`;
}

/** The whole days of the split, on a `day` column. */
export function inDays(column: string, split: DaySplit) {
  return sql<boolean>`(${sql.ref(column)} >= ${split.firstDay}::date AND ${sql.ref(column)} < ${split.endDay}::date)`;
}
