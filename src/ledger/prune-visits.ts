import { sql } from "kysely";
import { utcDay } from "../attribution/ip-hash.js";
import { attributionDb } from "../attribution/tables.js";
import type { DbOrTx } from "../db/connect.js";

/** Day rows are kept for this many UTC days (today included): enough for the 28-day stats. */
export const VISIT_DAYS_KEPT = 28;

export interface PruneResult {
  visitDays: number;
  visitors: number;
  rateLimitWindows: number;
}

/**
 * The retention job. Drops `visit_days` rows older than 28 days, visitor ids from before yesterday
 * (their day key has rotated, they can no longer match anything) and expired rate-limit windows.
 * Lifetime totals live on `referral_codes` and are never touched here.
 */
export async function pruneVisits(db: DbOrTx, now = new Date()): Promise<PruneResult> {
  const adb = attributionDb(db);
  const oldestKept = utcDay(new Date(now.getTime() - (VISIT_DAYS_KEPT - 1) * 86_400_000));
  const yesterday = utcDay(new Date(now.getTime() - 86_400_000));
  const days = await adb.deleteFrom("visit_days").where("day", "<", sql<Date>`${oldestKept}::date`).execute();
  const visitors = await adb
    .deleteFrom("visit_visitors")
    .where("day", "<", sql<Date>`${yesterday}::date`)
    .execute();
  const windows = await adb
    .deleteFrom("rate_limit_hits")
    .where("window_start", "<", new Date(now.getTime() - 3_600_000))
    .execute();
  return {
    visitDays: Number(days[0]?.numDeletedRows ?? 0n),
    visitors: Number(visitors[0]?.numDeletedRows ?? 0n),
    rateLimitWindows: Number(windows[0]?.numDeletedRows ?? 0n),
  };
}
