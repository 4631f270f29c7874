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
