import { sql } from "kysely";
import type { Db } from "../db/connect.js";
import { type Actor, audit } from "./audit.js";
import { accounts, postJournal } from "./journal.js";
import { moveSettlements } from "./status-changes.js";

export interface BuiltPayout {
  payoutId: string;
  vendorId: string;
  currency: string;
  amount: string;
  settlementIds: string[];
  adjustmentIds: string[];
  adjustmentTotal: string;
}

export interface PayoutRunResult {
  payouts: BuiltPayout[];
  skipped: Array<{ vendorId: string; currency: string; reason: string; amount: string }>;
}

// Fixed namespace for the per-vendor payout lock (the minter uses 7312, migrations 7312001).
const PAYOUT_LOCK_NAMESPACE = 7313;

/**
 * `POST /v1/admin/payouts`: one payout per vendor and currency from its `due` settlements (their net
 * plus their adjustments) and every negative adjustment not netted yet of settlements already paid out.
 * Each vendor is built in its own transaction under a transaction-scoped advisory lock on the vendor,
 * and every row is taken by a conditional update (`status = 'due'`) or a primary key
 * (`payout_adjustments`), so two runs at once build each payout once and net each adjustment once.
 * A vendor whose total would be negative is skipped (reported) and keeps its debt for the next run.
 */
export async function buildPayouts(
  db: Db,
  actor: Actor,
  input: { vendorId?: string } = {},
): Promise<PayoutRunResult> {
  // The vendors with a due settlement, one probe each of settlements_vendor_status_idx. A DISTINCT
  // over settlements read every settlement ever written (no index leads with the status); OFFSET 0
  // keeps the EXISTS a probe per vendor instead of a hashed scan of settlements
  // (test/integration/payout-plans.test.ts).
  let candidates = db
    .selectFrom("vendors as v")
    .select("v.vendor_id")
    .where(
      sql<boolean>`EXISTS (SELECT 1 FROM settlements s WHERE s.vendor_id = v.vendor_id AND s.status = 'due' OFFSET 0)`,
    );
  if (input.vendorId) candidates = candidates.where("v.vendor_id", "=", input.vendorId);
  const vendorIds = (await candidates.orderBy("v.vendor_id").execute()).map((row) => row.vendor_id);
  const result: PayoutRunResult = { payouts: [], skipped: [] };
  for (const vendorId of vendorIds) {
    const built = await db
      .transaction()
      .execute((trx) => buildVendorPayouts(trx as unknown as Db, actor, vendorId));
    result.payouts.push(...built.payouts);
    result.skipped.push(...built.skipped);
  }
  return result;
}

async function buildVendorPayouts(trx: Db, actor: Actor, vendorId: string): Promise<PayoutRunResult> {
  await sql`SELECT pg_advisory_xact_lock(${PAYOUT_LOCK_NAMESPACE}, hashtext(${vendorId}))`.execute(trx);
  const due = await trx
    .selectFrom("settlements")
    .select(["id", "currency", "net"])
    .where("vendor_id", "=", vendorId)
    .where("status", "=", "due")
    .orderBy("id")
    .forNoKeyUpdate()
    .execute();
  // Adjustments not netted yet, of settlements that are due now or already paid out.
  const adjustments = await trx
    .selectFrom("settlement_adjustments as a")
    .innerJoin("settlements as s", "s.id", "a.settlement_id")
    .leftJoin("payout_adjustments as p", "p.adjustment_id", "a.id")
    .select(["a.id", "a.settlement_id", "a.currency", "a.net_delta", "s.status"])
    .where("a.vendor_id", "=", vendorId)
    .where("p.adjustment_id", "is", null)
    .where("s.status", "in", ["due", "in_payout", "paid"])
    .orderBy("a.id")
    .execute();
  const dueIds = new Set(due.map((row) => row.id.toString()));
  const currencies = [...new Set(due.map((row) => row.currency))].sort();
  const result: PayoutRunResult = { payouts: [], skipped: [] };
  for (const currency of currencies) {
    const settlements = due.filter((row) => row.currency === currency);
    const nettable = adjustments.filter(
      (row) =>
        row.currency === currency && (row.status !== "due" || dueIds.has(row.settlement_id.toString())),
    );
    const settlementTotal = settlements.reduce((sum, row) => sum + row.net, 0n);
    const adjustmentTotal = nettable.reduce((sum, row) => sum + row.net_delta, 0n);
    const amount = settlementTotal + adjustmentTotal;
    if (amount < 0n) {
      result.skipped.push({ vendorId, currency, reason: "negative_balance", amount: amount.toString() });
      continue;
    }
    const payout = await trx
      .insertInto("payouts")
      .values({
        vendor_id: vendorId,
        currency,
        amount,
        settlement_count: settlements.length,
        adjustment_total: adjustmentTotal,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    const moved = await moveSettlements(trx, actor, {
      where: { ids: settlements.map((row) => row.id) },
      from: "due",
      to: "in_payout",
      action: "settlement.in_payout",
      set: { payout_id: payout.id },
      detail: { payoutId: payout.id },
    });
    if (moved.length !== settlements.length) {
      // Cannot happen under the lock; refuse rather than pay a total that no longer matches the rows.
      throw new Error(
        `payout for ${vendorId}: ${settlements.length - moved.length} settlements changed underneath`,
      );
    }
    if (nettable.length) {
      await trx
        .insertInto("payout_adjustments")
        .values(nettable.map((row) => ({ adjustment_id: row.id, payout_id: payout.id })))
        .execute();
    }
    await postJournal(trx, {
      event: "payout.created",
      orderReference: null,
      postings: [
        { account: accounts.vendorPayable(vendorId), asset: currency, amount },
        { account: accounts.cash, asset: currency, amount: -amount },
      ],
    });
    await audit(trx, actor, "payout.created", { type: "payout", id: payout.id }, null, {
      vendorId,
      currency,
      amount,
      settlementIds: moved,
      adjustmentIds: nettable.map((row) => row.id),
    });
    result.payouts.push({
      payoutId: payout.id.toString(),
      vendorId,
      currency,
      amount: amount.toString(),
      settlementIds: moved.map((id) => id.toString()),
      adjustmentIds: nettable.map((row) => row.id.toString()),
      adjustmentTotal: adjustmentTotal.toString(),
    });
  }
  return result;
}

/**
 * Marks a payout paid (the money left): its settlements move in_payout → paid. A repeat is a no-op.
 */
export async function markPayoutPaid(
  db: Db,
  actor: Actor,
  payoutId: bigint,
): Promise<{ payoutId: string; settlements: number } | undefined> {
  return db.transaction().execute(async (trx) => {
    const payout = await trx
      .selectFrom("payouts")
      .selectAll()
      .where("id", "=", payoutId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!payout) return undefined;
    if (payout.status === "paid") return { payoutId: payoutId.toString(), settlements: 0 };
    await trx
      .updateTable("payouts")
      .set({ status: "paid", paid_at: sql<Date>`now()` })
      .where("id", "=", payoutId)
      .execute();
    const moved = await moveSettlements(trx, actor, {
      where: { payoutId },
      from: "in_payout",
      to: "paid",
      action: "settlement.paid",
      detail: { payoutId },
    });
    await audit(
      trx,
      actor,
      "payout.paid",
      { type: "payout", id: payoutId },
      { status: payout.status },
      { status: "paid" },
    );
    return { payoutId: payoutId.toString(), settlements: moved.length };
  });
}
