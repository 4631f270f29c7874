import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";

/**
 * One statement for a batch of deliveries: claims each one's `webhook_events` row (response
 * `pending`), in event-id order (the lock order's first level, sorted within it). A delivery already
 * recorded — or being recorded by another transaction, which this waits for — is not claimed.
 * Returns the claimed event ids.
 */
export async function claimWebhooks(
  trx: DbOrTx,
  provider: string,
  deliveries: Array<{ eventId: string; eventType: string; payloadHash: string }>,
): Promise<Set<string>> {
  const rows = deliveries.map((d) => ({
    event_id: d.eventId,
    event_type: d.eventType,
    payload_hash: d.payloadHash,
  }));
  const result = await sql<{ event_id: string }>`${prepared("claim-webhooks")}
    INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response)
    SELECT ${provider}::text, x.event_id, x.payload_hash, x.event_type, '{"result":"pending"}'::jsonb
      FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(event_id text, event_type text, payload_hash text)
     ORDER BY x.event_id COLLATE "C"
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING event_id`.execute(trx);
  return new Set(result.rows.map((row) => row.event_id));
}
