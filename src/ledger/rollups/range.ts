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

/**
 * How the stats split an instant range [from, to) for the hour rollups (migration 0017): whole UTC days
 * from the day rollups, whole UTC hours around them from the hour rollups, and at most two sub-hour
 * remnants. A remnant is read from the rows, or as its whole hour bucket minus the rows of the rest of
 * that hour, whichever covers less time up to `now` — for `to = now` the rest of the current hour is in
 * the future, so the current hour costs one bucket and an index probe that finds nothing. Each piece
 * reads rollup rows or a sub-hour range of rows; the answer is exact either way.
 */
export interface HourSplit {
  /** Whole UTC days [firstDay, endDay), `YYYY-MM-DD`; null when there is none. */
  days: { firstDay: string; endDay: string } | null;
  /** Whole UTC hours, half-open, from the hour rollups. */
  hours: Array<{ from: Date; to: Date }>;
  /** Row ranges counted in (sign 1) or taken out of an hour bucket (sign −1). */
  rows: Array<{ from: Date; to: Date; sign: 1 | -1 }>;
}

const HOUR_MS = 3_600_000;

export function splitHours(from: Date, to: Date, now: Date = new Date()): HourSplit {
  const f = from.getTime();
  const t = to.getTime();
  const n = now.getTime();
  /** Time of [a, b) up to now: what reading its rows may cost (nothing is written in the future). */
  const live = (a: number, b: number) => Math.max(0, Math.min(b, n) - a);
  const split: HourSplit = { days: null, hours: [], rows: [] };
  if (!(f < t)) return split;
  const hour = (a: number, b: number) => {
    if (a < b) split.hours.push({ from: new Date(a), to: new Date(b) });
  };
  const rows = (a: number, b: number, sign: 1 | -1) => {
    if (a < b) split.rows.push({ from: new Date(a), to: new Date(b), sign });
  };
  const h1 = Math.ceil(f / HOUR_MS) * HOUR_MS;
  const h2 = Math.floor(t / HOUR_MS) * HOUR_MS;
  if (h1 > h2) {
    // Inside one hour bucket [h2, h2 + 1 h).
    if (live(h2, f) + live(t, h2 + HOUR_MS) < live(f, t)) {
      hour(h2, h2 + HOUR_MS);
      rows(h2, f, -1);
      rows(t, h2 + HOUR_MS, -1);
    } else rows(f, t, 1);
    return split;
  }
  const d1 = Math.ceil(h1 / DAY_MS) * DAY_MS;
  const d2 = Math.floor(h2 / DAY_MS) * DAY_MS;
  if (d1 < d2) {
    split.days = { firstDay: day(d1), endDay: day(d2) };
    hour(h1, d1);
    hour(d2, h2);
  } else hour(h1, h2);
  if (f < h1) {
    if (live(h1 - HOUR_MS, f) < live(f, h1)) {
      hour(h1 - HOUR_MS, h1);
      rows(h1 - HOUR_MS, f, -1);
    } else rows(f, h1, 1);
  }
  if (t > h2) {
    if (live(t, h2 + HOUR_MS) < live(h2, t)) {
      hour(h2, h2 + HOUR_MS);
      rows(t, h2 + HOUR_MS, -1);
    } else rows(h2, t, 1);
  }
  return split;
}

/** `column` falls in one of the ranges (false when there is none). */
export function inRanges(column: string, ranges: Array<{ from: Date; to: Date }>) {
  if (ranges.length === 0) return sql<boolean>`false`;
  return sql<boolean>`(${sql.join(
    ranges.map((range) => sql`(${sql.ref(column)} >= ${range.from} AND ${sql.ref(column)} < ${range.to})`),
    sql` OR `,
  )})`;
}

/**
 * The whole days [firstDay, endDay) of a split as whole ISO weeks (UTC, from Monday; 0017's
 * `referrer_week_rollup`) and the days before and after them, as `YYYY-MM-DD` half-open ranges.
 */
export function splitWeeks(days: { firstDay: string; endDay: string } | null) {
  const result: { weeks: { from: string; to: string } | null; days: Array<{ from: string; to: string }> } = {
    weeks: null,
    days: [],
  };
  if (!days) return result;
  const d1 = Date.parse(`${days.firstDay}T00:00:00Z`);
  const d2 = Date.parse(`${days.endDay}T00:00:00Z`);
  // 1970-01-05 (epoch day 4) was a Monday.
  const w1 = Math.ceil((d1 - 4 * DAY_MS) / WEEK_MS) * WEEK_MS + 4 * DAY_MS;
  const w2 = Math.floor((d2 - 4 * DAY_MS) / WEEK_MS) * WEEK_MS + 4 * DAY_MS;
  if (w1 < w2) {
    result.weeks = { from: day(w1), to: day(w2) };
    if (d1 < w1) result.days.push({ from: days.firstDay, to: day(w1) });
    if (w2 < d2) result.days.push({ from: day(w2), to: days.endDay });
  } else result.days.push({ from: days.firstDay, to: days.endDay });
  return result;
}

const WEEK_MS = 7 * DAY_MS;
