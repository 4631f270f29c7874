import { type RawBuilder, sql } from "kysely";

/**
 * Each claimed delivery's response (what a redelivery is answered with), by its key, as two CTEs for
 * a statement's WITH list (`webhook_response_target`, `webhook_responses`; insert-paid-rows.ts).
 *
 * Each row is found by its whole key (a lateral lookup the planner cannot flatten into a join) and
 * updated by the row it found (a TID scan; the rows were claimed by this transaction, no other moves
 * them). Joined to the JSON rows — and even with the keys listed as `event_id = ANY(…)` — the planner
 * (no statistics: autovacuum off, or a young table) read every delivery of the provider through the
 * key's first column: a cost that grew with every webhook ever received
 * (test/integration/hot-plans.test.ts failed so).
 */
export function webhookResponses(
  provider: string,
  responses: Array<{ eventId: string; response: unknown }>,
): RawBuilder<unknown> {
  const rows = responses.map((r) => ({ event_id: r.eventId, response: r.response }));
  return sql`webhook_response_target AS (
      SELECT k.tid, x.response
        FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(event_id text, response jsonb)
       CROSS JOIN LATERAL (
         SELECT w.ctid AS tid FROM webhook_events w WHERE w.provider = ${provider}::text AND w.event_id = x.event_id
         OFFSET 0) k
    ),
    webhook_responses AS (
      UPDATE webhook_events w SET response = t.response
        FROM webhook_response_target t
       WHERE w.ctid = ANY(ARRAY(SELECT t2.tid FROM webhook_response_target t2)) AND w.ctid = t.tid
    )`;
}
