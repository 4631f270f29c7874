import { type RawBuilder, sql } from "kysely";

/** A claimed delivery and the response a redelivery of it is answered with. */
export interface WebhookResponseRow {
  eventId: string;
  eventType: string;
  payloadHash: string;
  response: unknown;
}

/**
 * Each claimed delivery's response (what a redelivery is answered with), as a CTE for a statement's
 * WITH list (`webhook_responses`; insert-paid-rows.ts).
 *
 * The rows were inserted and are locked by this transaction (claim-with-contexts.ts), so each is
 * found by its whole key through the primary key as the arbiter of an `ON CONFLICT DO UPDATE` — the
 * same row the claim wrote, with the same key, hash and type, so nothing else could ever be inserted.
 * The arbiter is probed once per row whatever the statistics say. Every join the planner may choose
 * read more than the group's rows: joined to the JSON rows by key, it read every delivery of the
 * provider through the key's first column (no statistics: autovacuum off, or a young table); updated
 * by the TIDs a lateral lookup found, its plan from a young table scanned the whole table (a seq scan
 * looks cheaper than ten TID fetches on a few pages, and the cached plan kept it as the table grew:
 * 1.4 ms a group at 7,700 deliveries in the ingest benchmark). test/integration/hot-plans.test.ts
 * failed on both.
 */
export function webhookResponses(provider: string, responses: WebhookResponseRow[]): RawBuilder<unknown> {
  const rows = responses.map((r) => ({
    event_id: r.eventId,
    event_type: r.eventType,
    payload_hash: r.payloadHash,
    response: r.response,
  }));
  return sql`webhook_responses AS (
      INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response)
      SELECT ${provider}::text, x.event_id, x.payload_hash, x.event_type, x.response
        FROM json_to_recordset(${JSON.stringify(rows)}::json)
          AS x(event_id text, event_type text, payload_hash text, response jsonb)
       ORDER BY x.event_id COLLATE "C"
      ON CONFLICT (provider, event_id) DO UPDATE SET response = EXCLUDED.response
    )`;
}
