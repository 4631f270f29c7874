import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { describe } from "../minter-rpc.js";
import type { MinterContext } from "./context.js";

// An arbitrary but fixed namespace for the per-operator advisory lock.
const LOCK_NAMESPACE = 7312;

/** One sender per operator key: an in-process queue, plus a session advisory lock on Postgres. */
export async function exclusively<T>(ctx: MinterContext, busy: T, fn: () => Promise<T>): Promise<T> {
  const { stats, state } = ctx;
  const previous = state.local;
  let done!: () => void;
  state.local = new Promise<void>((resolve) => {
    done = resolve;
  });
  await previous;
  stats.running = true;
  stats.lastRunAt = new Date();
  try {
    if (ctx.dbKind === "pglite") return await fn();
    return await underAdvisoryLock(ctx, busy, fn);
  } catch (error) {
    // No session or no lock query (database down): reported, and the caller (cron, admin) sees it.
    stats.lastError = describe(error);
    throw error;
  } finally {
    stats.running = false;
    done();
  }
}

async function underAdvisoryLock<T>(ctx: MinterContext, busy: T, fn: () => Promise<T>): Promise<T> {
  // Keyed by operator, chain, contract and schema: two test schemas sharing a server do not contend.
  const name = `${ctx.operator}:${ctx.chain.chainId}:${ctx.contract.toLowerCase()}`;
  // The lock lives as long as this session. If the server dies meanwhile (restart, failover), the
  // lock dies with it: the unlock below fails, the pool drops the dead client on release (it is no
  // longer queryable), and the next run takes a fresh session and the lock again.
  return ctx.db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}, hashtext(${name} || current_schema())) AS locked`.execute(
      conn,
    );
    if (!rows[0]?.locked) return busy;
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      await unlock(ctx, conn, name);
      throw error;
    }
    await unlock(ctx, conn, name);
    return result;
  });
}

/**
 * Never masks the run's outcome. A failed unlock almost always means the session, and its lock, is
 * gone; should the session still be alive, it ends itself, so no pooled connection keeps the lock.
 */
async function unlock(ctx: MinterContext, conn: DbOrTx, name: string): Promise<void> {
  try {
    await sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}, hashtext(${name} || current_schema()))`.execute(
      conn,
    );
  } catch (error) {
    ctx.logger.warn(
      { error: describe(error) },
      "advisory unlock failed; ending the session that held the lock",
    );
    await sql`SELECT pg_terminate_backend(pg_backend_pid())`.execute(conn).catch(() => undefined);
  }
}
