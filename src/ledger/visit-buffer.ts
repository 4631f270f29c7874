import { sql } from "kysely";
import type { Logger } from "pino";
import { attributionDb } from "../attribution/tables.js";
import type { Db } from "../db/connect.js";

/** What one flush wrote. */
export interface FlushResult {
  visits: number;
  uniqueVisitors: number;
  rows: number;
}

interface Pending {
  code: string;
  day: string;
  visits: number;
  visitors: Set<string>;
}

export interface VisitBufferOptions {
  /** Flush at least this often (ms). */
  intervalMs: number;
  /** Flush early once this many visits are waiting. */
  maxPending: number;
  logger?: Logger;
}

/**
 * Visits are counted in memory and written in batches: one transaction per flush adds each
 * (code, day)'s count with `INSERT … ON CONFLICT DO UPDATE SET visits = visit_days.visits +
 * EXCLUDED.visits` and the lifetime totals with `visits_total = visits_total + n`. No read-merge-write,
 * so any number of instances may flush the same code at once and every visit is counted exactly once.
 *
 * Locks are always taken in one global order (visitor rows, then day rows, then code rows, each
 * sorted), so concurrent flushes from several instances cannot deadlock. A failed flush puts its
 * batch back; `close()` flushes what is left (SIGTERM goes through `running.close()`).
 */
export class VisitBuffer {
  private pending = new Map<string, Pending>();
  private pendingVisits = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  /** A flush queued behind the running one: later callers join it instead of queueing another. */
  private queued: Promise<FlushResult> | undefined;
  /** Consecutive failed flushes (database down): early flushes wait for the timer meanwhile. */
  private failures = 0;
  private closed = false;
  /** For /metrics: flushes that wrote rows, visits written, failed flushes. */
  readonly stats = { flushes: 0, flushedVisits: 0, failures: 0 };

  constructor(
    private readonly db: Db,
    private readonly options: VisitBufferOptions,
  ) {}

  /** Counts one visit of `code` on `day` (UTC `YYYY-MM-DD`) by the daily-rotating `visitorHash`. */
  record(code: string, day: string, visitorHash: string): void {
    const key = `${code}|${day}`;
    let entry = this.pending.get(key);
    if (!entry) {
      entry = { code, day, visits: 0, visitors: new Set() };
      this.pending.set(key, entry);
    }
    entry.visits += 1;
    entry.visitors.add(visitorHash);
    this.pendingVisits += 1;
    // While flushes fail (database down) the timer alone retries, once per interval.
    if (this.pendingVisits >= this.options.maxPending && this.failures === 0) {
      void this.flush().catch(() => undefined);
    }
  }

  /** Visits recorded but not yet written. */
  get size(): number {
    return this.pendingVisits;
  }

  /** Starts the periodic flush (the timer never keeps the process alive). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      void this.flush().catch(() => undefined);
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /**
   * Writes everything recorded so far. Flushes run one at a time in this process; a failure restores
   * the batch and rejects (the periodic caller logs it and retries on the next tick).
   */
  flush(): Promise<FlushResult> {
    // One waiting flush is enough: it takes everything pending when it starts.
    if (this.queued) return this.queued;
    const run = this.chain.then(() => {
      this.queued = undefined;
      return this.flushNow();
    });
    this.queued = run;
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops the timer and flushes what is left; call before closing the database. */
  async close(): Promise<FlushResult> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.flush();
  }

  private async flushNow(): Promise<FlushResult> {
    if (this.pending.size === 0) return { visits: 0, uniqueVisitors: 0, rows: 0 };
    const batch = [...this.pending.values()].sort((a, b) =>
      a.code === b.code ? (a.day < b.day ? -1 : 1) : a.code < b.code ? -1 : 1,
    );
    this.pending = new Map();
    this.pendingVisits = 0;
    try {
      const result = await writeVisits(this.db, batch);
      this.stats.flushes++;
      this.stats.flushedVisits += result.visits;
      if (this.failures > 0) {
        this.options.logger?.info({ failedFlushes: this.failures, ...result }, "visit flush recovered");
      }
      this.failures = 0;
      return result;
    } catch (error) {
      this.restore(batch);
      // The first failure of a streak is an error; the retries of an outage are not repeated at that level.
      this.failures++;
      this.stats.failures++;
      this.options.logger?.[this.failures === 1 ? "error" : "debug"](
        { err: error, entries: batch.length, pending: this.pendingVisits, failedFlushes: this.failures },
        "visit flush failed; will retry",
      );
      throw error;
    }
  }

  private restore(batch: Pending[]) {
    for (const entry of batch) {
      const key = `${entry.code}|${entry.day}`;
      const current = this.pending.get(key);
      if (current) {
        current.visits += entry.visits;
        for (const visitor of entry.visitors) current.visitors.add(visitor);
      } else {
        this.pending.set(key, entry);
      }
      this.pendingVisits += entry.visits;
    }
  }
}

const VISITOR_CHUNK = 5000;

/** One transaction: new visitors, then day rows, then lifetime totals, each in sorted order. */
async function writeVisits(db: Db, batch: Pending[]): Promise<FlushResult> {
  return db.transaction().execute(async (trx) => {
    const adb = attributionDb(trx);
    // 1. First visits of the day per visitor: the primary key decides, RETURNING counts the new ones.
    const visitorRows = batch.flatMap((entry) =>
      [...entry.visitors].sort().map((visitor_hash) => ({ code: entry.code, day: entry.day, visitor_hash })),
    );
    const newVisitors = new Map<string, number>();
    for (let i = 0; i < visitorRows.length; i += VISITOR_CHUNK) {
      const inserted = await adb
        .insertInto("visit_visitors")
        .values(visitorRows.slice(i, i + VISITOR_CHUNK))
        .onConflict((oc) => oc.columns(["code", "day", "visitor_hash"]).doNothing())
        .returning(["code", sql<string>`to_char(day, 'YYYY-MM-DD')`.as("day")])
        .execute();
      for (const row of inserted) {
        const key = `${row.code}|${row.day}`;
        newVisitors.set(key, (newVisitors.get(key) ?? 0) + 1);
      }
    }

    // 2. Day rows: one atomic upsert for the whole batch (each key appears once).
    await trx
      .insertInto("visit_days")
      .values(
        batch.map((entry) => ({
          code: entry.code,
          day: entry.day,
          visits: BigInt(entry.visits),
          unique_visitors: BigInt(newVisitors.get(`${entry.code}|${entry.day}`) ?? 0),
        })),
      )
      .onConflict((oc) =>
        oc.columns(["code", "day"]).doUpdateSet({
          visits: sql`visit_days.visits + excluded.visits`,
          unique_visitors: sql`visit_days.unique_visitors + excluded.unique_visitors`,
        }),
      )
      .execute();

    // 3. Lifetime totals on the code row: increments, never a computed value written back.
    const perCode = new Map<string, { visits: number; unique: number }>();
    for (const entry of batch) {
      const total = perCode.get(entry.code) ?? { visits: 0, unique: 0 };
      total.visits += entry.visits;
      total.unique += newVisitors.get(`${entry.code}|${entry.day}`) ?? 0;
      perCode.set(entry.code, total);
    }
    let visits = 0;
    let uniqueVisitors = 0;
    for (const [code, total] of [...perCode.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await trx
        .updateTable("referral_codes")
        .set({
          visits_total: sql`visits_total + ${total.visits}::bigint`,
          unique_visitors_total: sql`unique_visitors_total + ${total.unique}::bigint`,
        })
        .where("code", "=", code)
        .execute();
      visits += total.visits;
      uniqueVisitors += total.unique;
    }
    return { visits, uniqueVisitors, rows: batch.length };
  });
}

declare module "../services.js" {
  interface Services {
    /** The in-memory visit counter, started by `startServer` and flushed on close. */
    visits?: VisitBuffer;
  }
}
