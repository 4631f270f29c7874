import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";

/** One statement: each claimed delivery's response (what a redelivery is answered with), by its key. */
export async function storeWebhookResponses(
  trx: DbOrTx,
  provider: string,
  responses: Array<{ eventId: string; response: unknown }>,
): Promise<void> {
  const rows = responses.map((r) => ({ event_id: r.eventId, response: r.response }));
  // Not a named prepared statement: joined to many rows of a table that grows, its generic plan,
  // chosen while the table was small, would scan it and be kept (as mark-orders-paid.ts explains).
  await sql`
    UPDATE webhook_events w SET response = x.response
      FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(event_id text, response jsonb)
     WHERE w.provider = ${provider} AND w.event_id = x.event_id`.execute(trx);
}
