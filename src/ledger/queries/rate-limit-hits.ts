import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

/** One bucket's hits in one window, as the rate limiter sends them. */
export interface RateLimitDelta {
  bucket: string;
  /** The window's start, in epoch milliseconds. */
  windowStart: number;
  delta: number;
}

/** Adds `delta` hits to one bucket's window in one atomic upsert; the shared total after it. */
export async function addRateLimitHits(db: DbOrTx, row: RateLimitDelta): Promise<number> {
  const result = await sql<{ hits: number }>`
        INSERT INTO rate_limit_hits (bucket, window_start, hits)
        VALUES (${row.bucket}, ${new Date(row.windowStart)}, ${row.delta})
        ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_hits.hits + EXCLUDED.hits
        RETURNING hits`.execute(db);
  return Number(result.rows[0]?.hits ?? 0);
}

/**
 * Adds every row's hits in one statement; the shared totals after it, keyed `bucket|windowStartMs`.
 * Callers pass the rows in one global order, so that instances flushing at once cannot deadlock.
 */
export async function flushRateLimitHits(
  db: DbOrTx,
  rows: readonly RateLimitDelta[],
): Promise<Map<string, number>> {
  const values = sql.join(
    rows.map(
      ({ bucket, windowStart, delta }) =>
        sql`(${bucket}, ${new Date(windowStart)}::timestamptz, ${delta}::integer)`,
    ),
  );
  const result = await sql<{ bucket: string; window_ms: string; hits: number }>`
          INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES ${values}
          ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_hits.hits + EXCLUDED.hits
          RETURNING bucket, (extract(epoch FROM window_start) * 1000)::bigint::text AS window_ms, hits`.execute(
    db,
  );
  return new Map(result.rows.map((row) => [`${row.bucket}|${row.window_ms}`, Number(row.hits)]));
}
