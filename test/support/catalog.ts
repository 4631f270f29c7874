import type { Db } from "../../src/db/connect.js";
import { SYSTEM } from "../../src/ledger/audit.js";
import { upsertProduct, upsertVendor } from "../../src/ledger/upsert-catalog.js";

/**
 * The catalog `seedCatalog` (test/support/harness.ts) creates over HTTP, written through the ledger's
 * own use cases for callers without an API key (child-process tests, benchmarks): v_books (platform
 * rate, fee 10 %), v_games (800 bps, fee 12 %, 7 hold days), p_novel (1000 bps) and p_chess (no override).
 */
export async function seedCatalogRows(db: Db): Promise<void> {
  await upsertVendor(db, SYSTEM, { vendorId: "v_books", name: "Books", platformFeeBps: 1000, holdDays: 0 });
  await upsertVendor(db, SYSTEM, {
    vendorId: "v_games",
    name: "Games",
    referralCommissionBps: 800,
    platformFeeBps: 1200,
    holdDays: 7,
  });
  await upsertProduct(db, SYSTEM, { productId: "p_novel", vendorId: "v_books", referralCommissionBps: 1000 });
  await upsertProduct(db, SYSTEM, { productId: "p_chess", vendorId: "v_games", referralCommissionBps: null });
}

/**
 * The `order.paid` a payment provider sends for an order over that catalog, carrying the order itself
 * (`data.order`): 2 × p_novel at 250.00 and 1 × p_chess at 1,200.00 UAH, paid in full by card, for a
 * new buyer `m_buyer_<ref>` who came with `refCode`. The benchmarks and child-process tests sign it.
 */
export function orderPaidEvent(ref: string, refCode: string | null, paidAt: Date = new Date()) {
  return {
    type: "order.paid",
    data: {
      orderReference: ref,
      amountPaid: "170000",
      currency: "UAH",
      paymentRail: "card",
      paidAt: paidAt.toISOString(),
      order: {
        orderReference: ref,
        buyerMemberId: `m_buyer_${ref}`,
        refCode,
        currency: "UAH",
        lines: [
          { lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: 2, unitAmount: "25000" },
          { lineId: "l2", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: "120000" },
        ],
        shippingAmount: "0",
        discountAmount: "0",
      },
    },
  };
}
