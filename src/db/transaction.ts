import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from "kysely";
import type { Logger } from "pino";
import { processMetrics } from "../metrics/registry.js";
import type { Db, Tx } from "./connect.js";

/**
 * The transaction boundary of every business use case.
 *
 * LOCK ORDER (the one global order every transaction takes its locks in; docs/ledger.md "Lock order"):
 * webhook event row → [checkout with a coupon: the coupon row, by its redemption's conditional update] →
 * the member being written (buyer at checkout and payment, member at signup; a new order's key is
 * inserted just before its buyer is written, on every path) →
 * [signup: referrer-cap, then IP-cap advisory locks] → order (membership.refunded: the membership
 * payment) → its settlements by id → its rewards by
 * id → referrers sorted by id (clawback debt, last, only when there is debt). Row locks are always
 * FOR NO KEY UPDATE: a foreign-key insert holds FOR KEY SHARE on the row it references. A grouped
 * order.paid (src/ledger/record-order-paid-batch.ts) takes the same levels for many events, sorted
 * within each level (COLLATE "C"), and never the referrers' debt lock. A deadlock (40P01) or a serialization failure
 * (40001) aborts the whole transaction, so running it again from the start is always safe: nothing of
 * the failed attempt was committed. This is a safety net, not the fix — the lock order in
 * docs/ledger.md ("Lock order") is what keeps deadlocks at zero, and the tests check
 * `pg_stat_database.deadlocks` stays unchanged. Every retry is logged and counted (`/metrics`).
 */

const RETRYABLE: Record<string, "deadlock" | "serialization"> = {
  "40P01": "deadlock",
  "40001": "serialization",
};

export const transactionStats = {
  /** Attempts that were run again, by cause. */
  retries: { deadlock: 0, serialization: 0 },
  /** Transactions that still failed after the last attempt. */
  exhausted: 0,
  /** Statements sent through the service's Kysely instance (BEGIN/COMMIT not included). */
  statements: 0,
};

let retryLogger: Logger | undefined;

/** Where retries are logged (set once at boot). */
export function setTransactionLogger(logger: Logger | undefined): void {
  retryLogger = logger;
}

export interface TransactionOptions {
  /** Attempts in all, the first included (default 3). */
  attempts?: number;
  /** What the transaction does, for the log line. */
  name?: string;
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Runs `fn` in a transaction, again (at most `attempts` times in all, with a jittered back-off of
 * 5–20 ms × attempt) when the database aborts it for a deadlock or a serialization failure. `fn`
 * must have no effect outside the database that a second run would repeat.
 */
export async function inTransaction<T>(
  db: Db,
  fn: (trx: Tx) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (error) {
      const cause = RETRYABLE[sqlState(error) ?? ""];
      if (!cause) throw error;
      if (attempt >= attempts) {
        transactionStats.exhausted++;
        retryLogger?.error({ cause, attempt, transaction: options.name }, "transaction failed after retries");
        throw error;
      }
      transactionStats.retries[cause]++;
      retryLogger?.warn({ cause, attempt, transaction: options.name }, "transaction aborted; retrying");
      await new Promise((resolve) => setTimeout(resolve, (5 + Math.random() * 15) * attempt));
    }
  }
}

/** Counts statements (for `/metrics` and the statements-per-event test and benchmark). */
export const statementCounter: KyselyPlugin = {
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    transactionStats.statements++;
    return args.node;
  },
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  },
};

// The transaction counters (module state, so per process): read at scrape time.
processMetrics.counter({
  name: "twinrail_db_transaction_retries_total",
  help: "Transactions run again after a deadlock or serialization failure.",
  labelNames: ["cause"],
  read: () => [
    [{ cause: "deadlock" }, transactionStats.retries.deadlock],
    [{ cause: "serialization" }, transactionStats.retries.serialization],
  ],
});
processMetrics.counter({
  name: "twinrail_db_transaction_retries_exhausted_total",
  help: "Transactions that failed on their last attempt.",
  read: () => transactionStats.exhausted,
});
processMetrics.counter({
  name: "twinrail_db_statements_total",
  help: "SQL statements sent by the service (BEGIN and COMMIT not counted).",
  read: () => transactionStats.statements,
});
