import type { Db } from "../db/connect.js";
import { listAuditPartitions } from "../ledger/queries/audit-partitions.js";
import { dropAuditPartitions, ensureAuditPartitions, pruneBefore } from "../ledger/retention.js";

export interface RetentionOptions {
  /** webhook_events rows older than this many days go (dedupe holds inside the window). */
  webhookEventDays: number;
  /** idempotency_keys rows older than this many hours go (replays answer the same inside it). */
  idempotencyKeyHours: number;
  /** audit_log partitions whose rows are all older than this many months are dropped; 0 keeps all. */
  auditMonths: number;
  /** Month partitions of audit_log kept created ahead of the current month. */
  auditPartitionsAhead: number;
  batchSize: number;
  pauseMs?: number;
}

export interface RetentionResult {
  webhookEvents: number;
  idempotencyKeys: number;
  auditPartitionsCreated: string[];
  auditPartitionsDropped: string[];
  /** Where the last audit_log partition ends: an insert at or after it would fail. */
  auditPartitionedUntil: Date | null;
}

const DAY_MS = 86_400_000;

/** `months` calendar months (UTC) before `now`. */
export function monthsBefore(now: Date, months: number): Date {
  const d = new Date(now);
  d.setUTCMonth(d.getUTCMonth() - months);
  return d;
}

/**
 * The retention job (`RETENTION_CRON`, and once at boot for the partitions): creates the coming
 * months' audit_log partitions first — an insert into a month without one would fail — then prunes.
 * Safe on any number of instances at once (the partition functions take an advisory lock; deletes
 * of rows another instance already deleted delete nothing).
 */
export async function runRetention(
  db: Db,
  options: RetentionOptions,
  now = new Date(),
): Promise<RetentionResult> {
  const auditPartitionsCreated = await ensureAuditPartitions(db, options.auditPartitionsAhead, now);
  const auditPartitionsDropped =
    options.auditMonths > 0 ? await dropAuditPartitions(db, monthsBefore(now, options.auditMonths)) : [];
  const batch = { batchSize: options.batchSize, pauseMs: options.pauseMs };
  const webhookEvents = await pruneBefore(
    db,
    "webhook_events",
    new Date(now.getTime() - options.webhookEventDays * DAY_MS),
    batch,
  );
  const idempotencyKeys = await pruneBefore(
    db,
    "idempotency_keys",
    new Date(now.getTime() - options.idempotencyKeyHours * 3_600_000),
    batch,
  );
  const partitions = await listAuditPartitions(db);
  return {
    webhookEvents,
    idempotencyKeys,
    auditPartitionsCreated,
    auditPartitionsDropped,
    auditPartitionedUntil: partitions.at(-1)?.to ?? null,
  };
}

/** The job's options from the configuration. */
export function retentionOptions(config: {
  WEBHOOK_EVENT_RETENTION_DAYS: number;
  IDEMPOTENCY_KEY_RETENTION_HOURS: number;
  AUDIT_RETENTION_MONTHS: number;
  AUDIT_PARTITIONS_AHEAD: number;
  RETENTION_BATCH_SIZE: number;
}): RetentionOptions {
  return {
    webhookEventDays: config.WEBHOOK_EVENT_RETENTION_DAYS,
    idempotencyKeyHours: config.IDEMPOTENCY_KEY_RETENTION_HOURS,
    auditMonths: config.AUDIT_RETENTION_MONTHS,
    auditPartitionsAhead: config.AUDIT_PARTITIONS_AHEAD,
    batchSize: config.RETENTION_BATCH_SIZE,
    pauseMs: 20,
  };
}
