import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";

/** One statement: each claimed delivery's response (what a redelivery is answered with), by its key. */
export async function storeWebhookResponses(
  trx: DbOrTx,
  provider: string,
  responses: Array<{ eventId: string; response: unknown }>,
): Promise<void> {
  const rows = responses.map((r) => ({ event_id: r.eventId, response: r.response }));
  // Each row is found by its whole key (a lateral lookup the planner cannot flatten into a join) and
  // updated by the row it found (a TID scan; the rows were claimed by this transaction, no other moves
  // them). Joined to the JSON rows — and even with the keys listed as `event_id = ANY(…)` — the planner
  // (no statistics: autovacuum off, or a young table) read every delivery of the provider through the
  // key's first column: a cost that grew with every webhook ever received
  // (test/integration/hot-plans.test.ts failed so).
  await sql`${prepared("store-webhook-responses")}
    WITH x AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(event_id text, response jsonb)
    ),
    target AS (
      SELECT k.tid, x.response FROM x CROSS JOIN LATERAL (
        SELECT w.ctid AS tid FROM webhook_events w WHERE w.provider = ${provider} AND w.event_id = x.event_id
        OFFSET 0) k
    )
    UPDATE webhook_events w SET response = t.response
      FROM target t
     WHERE w.ctid = ANY(ARRAY(SELECT t2.tid FROM target t2)) AND w.ctid = t.tid`.execute(trx);
}
