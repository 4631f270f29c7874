import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";

/** One statement: each claimed delivery's response (what a redelivery is answered with). */
export async function storeWebhookResponses(
  trx: DbOrTx,
  provider: string,
  responses: Array<{ eventId: string; response: unknown }>,
): Promise<void> {
  const rows = responses.map((r) => ({ event_id: r.eventId, response: r.response }));
  await sql`${prepared("store-webhook-responses")}
    UPDATE webhook_events w SET response = x.response
      FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(event_id text, response jsonb)
     WHERE w.provider = ${provider} AND w.event_id = x.event_id`.execute(trx);
}
