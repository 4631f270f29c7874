import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

/** An inbound webhook event as `twinrail webhooks list` shows it (never its payload). */
export interface InboundWebhookEvent {
  provider: string;
  eventId: string;
  eventType: string;
  receivedAt: string;
}

/** The latest inbound webhook events (deduplication records), newest first. */
export async function listInboundWebhookEvents(db: DbOrTx, limit: number): Promise<InboundWebhookEvent[]> {
  const rows = await db
    .selectFrom("webhook_events")
    .select(["provider", "event_id", "event_type", "received_at"])
    .orderBy("received_at", "desc")
    .orderBy("event_id")
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    provider: row.provider,
    eventId: row.event_id,
    eventType: row.event_type,
    receivedAt: new Date(row.received_at as Date | string).toISOString(),
  }));
}

/** An outbound endpoint (its secret never leaves). */
export interface OutboundWebhookEndpoint {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: string;
}

/**
 * The outbound endpoints, or null where the `webhook_endpoints` table does not exist (a database
 * migrated by a build before outbound webhooks).
 */
export async function listOutboundWebhookEndpoints(db: DbOrTx): Promise<OutboundWebhookEndpoint[] | null> {
  const exists = await sql<{ t: string | null }>`SELECT to_regclass('webhook_endpoints')::text AS t`.execute(
    db,
  );
  if (!exists.rows[0]?.t) return null;
  const rows = await sql<{
    id: string;
    url: string;
    events: string[];
    enabled: boolean;
    disabled_reason: string | null;
    created_at: Date | string;
  }>`SELECT id::text AS id, url, events, enabled, disabled_reason, created_at
       FROM webhook_endpoints ORDER BY id`.execute(db);
  return rows.rows.map((row) => ({
    id: row.id,
    url: row.url,
    events: row.events,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    createdAt: new Date(row.created_at).toISOString(),
  }));
}
