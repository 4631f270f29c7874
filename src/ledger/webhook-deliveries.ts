import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

/** An endpoint whose attempts have all failed for this long is disabled. */
export const DISABLE_AFTER_MS = 5 * 86_400_000;

/** A claimed delivery with what its attempt needs. */
export interface ClaimedDelivery {
  id: bigint;
  attempt: number;
  messageId: bigint;
  eventType: string;
  snapshot: Record<string, unknown>;
  messageCreatedAt: Date;
  endpointId: bigint;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
}

/**
 * Claims up to `limit` due deliveries of enabled endpoints in ONE statement: the rows are picked with
 * `FOR UPDATE SKIP LOCKED` (instances claiming at once take disjoint rows), their attempt counted and
 * `next_attempt_at` pushed to the end of a lease. A process that dies mid-attempt (kill -9) leaves
 * the row pending: it is claimed again once the lease ends (at-least-once).
 */
export async function claimDeliveries(
  db: DbOrTx,
  options: { now: Date; limit: number; leaseMs: number },
): Promise<ClaimedDelivery[]> {
  const leaseEnd = new Date(options.now.getTime() + options.leaseMs);
  const result = await sql<{
    id: string;
    attempts: number;
    message_id: string;
    event_type: string;
    snapshot: Record<string, unknown>;
    message_created_at: Date;
    endpoint_id: string;
    url: string;
    secret: string;
    previous_secret: string | null;
    previous_secret_expires_at: Date | null;
  }>`
    WITH picked AS (
      SELECT d.id FROM webhook_deliveries d
        JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
       WHERE d.status = 'pending' AND d.next_attempt_at <= ${options.now}
       ORDER BY d.next_attempt_at, d.id
       LIMIT ${options.limit}
       FOR UPDATE OF d SKIP LOCKED
    ), claimed AS (
      UPDATE webhook_deliveries d
         SET attempts = d.attempts + 1, next_attempt_at = ${leaseEnd}, last_attempt_at = ${options.now}
        FROM picked WHERE d.id = picked.id
      RETURNING d.id, d.attempts, d.message_id, d.endpoint_id
    )
    SELECT c.id::text, c.attempts, c.message_id::text, m.event_type, m.snapshot,
           m.created_at AS message_created_at, c.endpoint_id::text, e.url, e.secret,
           e.previous_secret, e.previous_secret_expires_at
      FROM claimed c
      JOIN webhook_messages m ON m.id = c.message_id
      JOIN webhook_endpoints e ON e.id = c.endpoint_id
     ORDER BY c.id`.execute(db);
  return result.rows.map((row) => ({
    id: BigInt(row.id),
    attempt: row.attempts,
    messageId: BigInt(row.message_id),
    eventType: row.event_type,
    snapshot: row.snapshot,
    messageCreatedAt: new Date(row.message_created_at),
    endpointId: BigInt(row.endpoint_id),
    url: row.url,
    secret: row.secret,
    previousSecret: row.previous_secret,
    previousSecretExpiresAt: row.previous_secret_expires_at ? new Date(row.previous_secret_expires_at) : null,
  }));
}

export interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** The attempt succeeded (2xx). */
  ok: boolean;
  /** When to try again after a failure; null = the schedule is spent, the delivery fails. */
  retryAt: Date | null;
}

/**
 * Records an attempt in ONE statement: the delivery's result (delivered, pending until `retryAt`, or
 * failed), the attempt's log row, and the endpoint's run of failures — cleared by a success; a
 * failure `DISABLE_AFTER_MS` or more after the first of the run disables the endpoint, saying why.
 * Applied only while the claim is still this attempt's (a lease taken over by another instance wins).
 * Returns whether the endpoint was disabled by it.
 */
export async function recordAttempt(
  db: DbOrTx,
  claim: { id: bigint; attempt: number; endpointId: bigint },
  outcome: AttemptOutcome,
  now: Date,
): Promise<{ recorded: boolean; disabled: boolean }> {
  const status = outcome.ok ? "delivered" : outcome.retryAt ? "pending" : "failed";
  const cutoff = new Date(now.getTime() - DISABLE_AFTER_MS);
  const error = outcome.error?.slice(0, 500) ?? null;
  const result = await sql<{ recorded: boolean; disabled: boolean }>`
    WITH moved AS (
      UPDATE webhook_deliveries
         SET status = ${status}, next_attempt_at = ${outcome.retryAt ?? now},
             last_status_code = ${outcome.statusCode}, last_error = ${error},
             delivered_at = ${outcome.ok ? now : null}
       WHERE id = ${claim.id} AND attempts = ${claim.attempt} AND status = 'pending'
      RETURNING id
    ), logged AS (
      INSERT INTO webhook_delivery_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
      SELECT id, ${claim.attempt}::int, ${now}::timestamptz, ${outcome.statusCode}::int, ${error}::text,
             ${outcome.durationMs}::int FROM moved
    ), endpoint AS (
      UPDATE webhook_endpoints e
         SET failing_since = CASE WHEN ${outcome.ok}::boolean THEN NULL ELSE coalesce(e.failing_since, ${now}) END,
             enabled = CASE WHEN NOT ${outcome.ok}::boolean AND e.failing_since <= ${cutoff} THEN false ELSE e.enabled END,
             disabled_at = CASE WHEN NOT ${outcome.ok}::boolean AND e.failing_since <= ${cutoff} AND e.enabled
                                THEN ${now} ELSE e.disabled_at END,
             disabled_reason = CASE WHEN NOT ${outcome.ok}::boolean AND e.failing_since <= ${cutoff} AND e.enabled
                                    THEN 'every attempt failed for 5 days (since ' || to_char(e.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
                                    ELSE e.disabled_reason END
       WHERE e.id = ${claim.endpointId} AND EXISTS (SELECT 1 FROM moved)
      RETURNING (e.enabled = false AND e.disabled_at = ${now}) AS disabled
    )
    SELECT EXISTS (SELECT 1 FROM moved) AS recorded,
           coalesce((SELECT disabled FROM endpoint), false) AS disabled`.execute(db);
  const row = result.rows[0];
  return { recorded: Boolean(row?.recorded), disabled: Boolean(row?.disabled) };
}

/**
 * Schedules a delivery for an attempt now (a failed one becomes pending again: one more attempt, and
 * failed again if it fails). Refused for an endpoint that is disabled, and for a delivered one.
 */
export async function retryDelivery(trx: DbOrTx, actor: Actor, id: bigint, now = new Date()) {
  const current = await trx
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_endpoints as e", "e.id", "d.endpoint_id")
    .select(["d.id", "d.status", "d.endpoint_id", "e.enabled"])
    .where("d.id", "=", id)
    .executeTakeFirst();
  if (!current) throw new AppError("not_found", `webhook delivery ${id} does not exist`);
  if (!current.enabled) {
    throw new AppError("conflict", `the endpoint of delivery ${id} is disabled; enable it first`);
  }
  if (current.status === "delivered") {
    throw new AppError("invalid_transition", `webhook delivery ${id} was delivered already`);
  }
  const moved = await trx
    .updateTable("webhook_deliveries")
    .set({ status: "pending", next_attempt_at: now })
    .where("id", "=", id)
    .where("status", "in", ["pending", "failed"])
    .returning(["id", "endpoint_id"])
    .executeTakeFirst();
  if (!moved) throw new AppError("conflict", `webhook delivery ${id} changed meanwhile; try again`);
  await audit(
    trx,
    actor,
    "webhook_delivery.retry",
    { type: "webhook_delivery", id },
    { status: current.status },
    { status: "pending" },
  );
  return { id: id.toString(), endpointId: moved.endpoint_id.toString(), status: "pending" as const };
}
