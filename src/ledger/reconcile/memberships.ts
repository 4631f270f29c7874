import { sql } from "kysely";
import type { DbOrTx } from "../../db/connect.js";
import { applyBps } from "../../domain/money.js";

/**
 * Reconcile's membership check (issue 14): per membership payment, `amount_refunded` equals the sum of
 * its `membership_refunds`, and its reward's effective basis (fiat_basis − clawed_back_basis, unless
 * rejected) equals the snapshotted `referral_bps` of what is left of the payment — refunds of one period
 * move that period's reward and nothing else. Payments from before 0012 (no `referral_bps`) are skipped.
 */
export async function membershipMismatches(db: DbOrTx): Promise<Array<{ subject: string; detail: string }>> {
  const rows = await sql<{
    reference: string;
    amount_paid: string;
    amount_refunded: string;
    refunds: string;
    referral_bps: number;
    status: string | null;
    effective: string | null;
  }>`
    SELECT p.membership_reference AS reference, p.amount_paid::text, p.amount_refunded::text,
           coalesce((SELECT sum(f.amount) FROM membership_refunds f
                      WHERE f.membership_reference = p.membership_reference), 0)::text AS refunds,
           p.referral_bps, r.status, (r.fiat_basis - r.clawed_back_basis)::text AS effective
      FROM membership_payments p
      LEFT JOIN referral_rewards r ON r.order_reference = p.membership_reference AND r.source = 'membership'
     WHERE p.referral_bps IS NOT NULL`.execute(db);
  const out: Array<{ subject: string; detail: string }> = [];
  for (const row of rows.rows) {
    const subject = `membership ${row.reference}`;
    if (row.amount_refunded !== row.refunds) {
      out.push({ subject, detail: `amount_refunded ${row.amount_refunded} ≠ Σ refunds ${row.refunds}` });
    }
    if (row.effective === null || row.status === "rejected") continue;
    const entitled = applyBps(BigInt(row.amount_paid) - BigInt(row.amount_refunded), row.referral_bps);
    if (BigInt(row.effective) !== entitled) {
      out.push({
        subject,
        detail: `reward basis ${row.effective} ≠ ${row.referral_bps} bps of what is left of the payment (${entitled})`,
      });
    }
  }
  return out;
}
