import type { DbOrTx } from "../../db/connect.js";
import type { WebhookDeliveryStatus } from "../../webhooks/tables.js";

/** An endpoint's deliveries, newest first, each with its message's type and its attempts in order. */
export async function listWebhookDeliveries(
  db: DbOrTx,
  filter: { endpointId: bigint; status?: WebhookDeliveryStatus; limit: number },
) {
  let query = db
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_messages as m", "m.id", "d.message_id")
    .select([
      "d.id",
      "d.message_id",
      "m.event_type",
      "d.status",
      "d.attempts",
      "d.next_attempt_at",
      "d.last_attempt_at",
      "d.last_status_code",
      "d.last_error",
      "d.delivered_at",
      "d.created_at",
    ])
    .where("d.endpoint_id", "=", filter.endpointId)
    .orderBy("d.id", "desc")
    .limit(filter.limit);
  if (filter.status) query = query.where("d.status", "=", filter.status);
  const rows = await query.execute();
  const attempts = rows.length
    ? await db
        .selectFrom("webhook_delivery_attempts")
        .select(["delivery_id", "attempt", "at", "status_code", "error", "duration_ms"])
        .where(
          "delivery_id",
          "in",
          rows.map((row) => row.id),
        )
        .orderBy("id")
        .execute()
    : [];
  return rows.map((row) => ({
    ...row,
    history: attempts.filter((attempt) => attempt.delivery_id === row.id),
  }));
}

/** The outbox at a glance (metrics): deliveries pending and failed, the oldest pending, endpoints disabled. */
export async function readWebhookBacklog(db: DbOrTx) {
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .selectFrom("webhook_deliveries")
        .select((s) => s.fn.countAll<string>().as("n"))
        .where("status", "=", "pending")
        .as("pending"),
      eb
        .selectFrom("webhook_deliveries")
        .select((s) => s.fn.countAll<string>().as("n"))
        .where("status", "=", "failed")
        .as("failed"),
      eb
        .selectFrom("webhook_deliveries")
        .select((s) => s.fn.min("created_at").as("at"))
        .where("status", "=", "pending")
        .as("oldest_pending"),
      eb
        .selectFrom("webhook_endpoints")
        .select((s) => s.fn.countAll<string>().as("n"))
        .where("enabled", "=", false)
        .as("disabled"),
    ])
    .executeTakeFirstOrThrow();
  const oldest = row.oldest_pending ? new Date(row.oldest_pending as Date).getTime() : null;
  return {
    pending: Number(row.pending ?? 0),
    failed: Number(row.failed ?? 0),
    oldestPendingAgeSeconds: oldest === null ? 0 : Math.max(0, Math.floor((Date.now() - oldest) / 1000)),
    disabledEndpoints: Number(row.disabled ?? 0),
  };
}
