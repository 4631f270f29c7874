import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { prepared } from "../../db/prepared.js";
import { ANY_VENDOR } from "../../domain/rates.js";
import {
  type CheckoutContext,
  type ContextInput,
  type ContextRow,
  checkoutContextColumns,
  normalizeCodes,
  toCheckoutContext,
} from "./read-checkout-context.js";

/**
 * One statement for a batch of deliveries that carry their orders (the grouped `order.paid` of
 * record-order-paid-batch.ts): claims each one's `webhook_events` row (response `pending`, in event-id
 * order: the lock order's first level, sorted within it) and reads every checkout context (the same
 * sub-selects as `readCheckoutContext`, once per delivery; nothing is locked). A delivery already
 * recorded — or being recorded by another transaction, which this waits for — is not claimed, and its
 * context is read but not used. Answers the claimed event ids and the contexts in the inputs' order.
 */
export async function claimWithContexts(
  trx: DbOrTx,
  provider: string,
  deliveries: Array<{ eventId: string; eventType: string; payloadHash: string; context: ContextInput }>,
): Promise<{ claimed: Set<string>; contexts: CheckoutContext[] }> {
  const normalized = deliveries.map((d) => normalizeCodes(d.context.codes));
  const rows = deliveries.map((d, i) => ({
    i,
    event_id: d.eventId,
    event_type: d.eventType,
    payload_hash: d.payloadHash,
    order_reference: d.context.orderReference,
    vendor_ids: d.context.vendorIds,
    product_ids: d.context.productIds,
    codes: normalized[i]!.codes,
    tier_vendor_ids: [...d.context.vendorIds, ANY_VENDOR],
    buyer: d.context.buyerMemberId,
  }));
  const result = await sql<ContextRow & { i: number; claimed: boolean }>`${prepared("claim-with-contexts")}
    WITH e AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(rows)}::json)
        AS e(i int, event_id text, event_type text, payload_hash text, order_reference text, vendor_ids text[],
             product_ids text[], codes text[], tier_vendor_ids text[], buyer text)
    ),
    claimed AS (
      INSERT INTO webhook_events (provider, event_id, payload_hash, event_type, response)
      SELECT ${provider}::text, e.event_id, e.payload_hash, e.event_type, '{"result":"pending"}'::jsonb
        FROM e ORDER BY e.event_id COLLATE "C"
      ON CONFLICT (provider, event_id) DO NOTHING
      RETURNING event_id
    )
    SELECT e.i, e.event_id IN (SELECT c.event_id FROM claimed c) AS claimed, ${checkoutContextColumns({
      orderReference: sql`e.order_reference`,
      vendorIds: sql`e.vendor_ids`,
      productIds: sql`e.product_ids`,
      codes: sql`e.codes`,
      tierVendorIds: sql`e.tier_vendor_ids`,
      buyer: sql`e.buyer`,
    })}
      FROM e
     ORDER BY e.i`.execute(trx);
  return {
    claimed: new Set(result.rows.filter((row) => row.claimed).map((row) => deliveries[row.i]!.eventId)),
    contexts: result.rows.map((row) => toCheckoutContext(row, normalized[row.i]!.normalized)),
  };
}
