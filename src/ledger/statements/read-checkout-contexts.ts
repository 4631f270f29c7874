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
 * One statement for a batch of checkouts (the grouped `order.paid` of record-order-paid-batch.ts):
 * the same sub-selects as `readCheckoutContext`, once per input row, answered in the inputs' order.
 * Nothing is locked.
 */
export async function readCheckoutContexts(trx: DbOrTx, inputs: ContextInput[]): Promise<CheckoutContext[]> {
  const normalized = inputs.map((input) => normalizeCodes(input.codes));
  const rows = inputs.map((input, i) => ({
    i,
    order_reference: input.orderReference,
    vendor_ids: input.vendorIds,
    product_ids: input.productIds,
    codes: normalized[i]!.codes,
    tier_vendor_ids: [...input.vendorIds, ANY_VENDOR],
    buyer: input.buyerMemberId,
  }));
  const result = await sql<ContextRow & { i: number }>`${prepared("read-checkout-contexts")}
    SELECT e.i, ${checkoutContextColumns({
      orderReference: sql`e.order_reference`,
      vendorIds: sql`e.vendor_ids`,
      productIds: sql`e.product_ids`,
      codes: sql`e.codes`,
      tierVendorIds: sql`e.tier_vendor_ids`,
      buyer: sql`e.buyer`,
    })}
      FROM json_to_recordset(${JSON.stringify(rows)}::json)
        AS e(i int, order_reference text, vendor_ids text[], product_ids text[], codes text[],
             tier_vendor_ids text[], buyer text)
     ORDER BY e.i`.execute(trx);
  return result.rows.map((row) => toCheckoutContext(row, normalized[row.i]!.normalized));
}
