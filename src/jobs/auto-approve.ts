import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { Actor } from "../ledger/audit.js";
import {
  computeFraudSignals,
  DEFAULT_FRAUD_THRESHOLDS,
  type FraudSignalThresholds,
} from "../ledger/fraud-signals.js";
import { moveRewards } from "../ledger/status-changes.js";

const DAY_MS = 86_400_000;

export const AUTO_APPROVE_ACTOR: Actor = { id: "job:auto-approve" };

export interface AutoApproveOptions {
  /** `REWARD_HOLD_DAYS`: rewards pending at least this long are approved; 0 turns the job off. */
  holdDays: number;
  /** The job's clock (tests pass a fixed one). */
  now?: Date;
  /** Rewards looked at (and moved, by one UPDATE) per batch. */
  batchSize?: number;
  thresholds?: FraudSignalThresholds;
}

export interface AutoApproveResult {
  /** Rewards this run approved. */
  approved: string[];
  /** Old enough, but carrying a fraud signal: left for an admin. */
  flagged: string[];
}

/**
 * Approves, as `job:auto-approve`, the `pending_approval` rewards created at least `holdDays` before
 * `now` whose order has no refund and no chargeback (dispute, whatever its outcome) and that carry no
 * fraud signal, neither stored on the row nor computed now (`computeFraudSignals`). A flagged reward
 * stays pending for an admin.
 *
 * Per batch (keyset by id): one read of the candidates, the computed signals for them, then ONE
 * conditional UPDATE through the state machine (`moveRewards`) that repeats every condition on the
 * row it locks — so a refund, dispute or admin decision committed meanwhile wins — and passes over
 * rows another transaction holds (`SKIP LOCKED`: an admin deciding them, or another instance's run).
 * Safe on any number of instances at once; each move is audited once.
 */
export async function autoApproveRewards(
  db: DbOrTx,
  options: AutoApproveOptions,
): Promise<AutoApproveResult> {
  const result: AutoApproveResult = { approved: [], flagged: [] };
  if (options.holdDays <= 0) return result;
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.holdDays * DAY_MS);
  const batchSize = options.batchSize ?? 200;
  const thresholds = options.thresholds ?? DEFAULT_FRAUD_THRESHOLDS;
  // Re-checked by the UPDATE on the locked row, not only by the read.
  const eligible = sql<boolean>`r.created_at <= ${cutoff}
    AND jsonb_array_length(r.fraud_signals) = 0
    AND NOT EXISTS (SELECT 1 FROM order_refunds f WHERE f.order_reference = r.order_reference)
    AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.order_reference = r.order_reference)`;
  let cursor = 0n;
  for (;;) {
    const candidates = await sql<{ id: bigint | string }>`
      SELECT r.id FROM referral_rewards r
       WHERE r.status = 'pending_approval' AND r.id > ${cursor} AND ${eligible}
       ORDER BY r.id
       LIMIT ${batchSize}`.execute(db);
    const ids = candidates.rows.map((row) => BigInt(row.id));
    if (ids.length === 0) break;
    cursor = ids[ids.length - 1]!;
    const computed = await computeFraudSignals(db, ids, thresholds);
    const clean = ids.filter((id) => (computed.get(id.toString()) ?? []).length === 0);
    result.flagged.push(...ids.filter((id) => !clean.includes(id)).map(String));
    if (clean.length > 0) {
      const note = `auto-approved after the ${options.holdDays}-day hold: no refund, no chargeback, no fraud signal`;
      const moved = await moveRewards(db, AUTO_APPROVE_ACTOR, {
        ids: clean,
        from: ["pending_approval"],
        to: "approved",
        action: "reward.approved",
        where: eligible,
        skipLocked: true,
        set: {
          approved_by: AUTO_APPROVE_ACTOR.id,
          approved_at: sql`now()`,
          approval_note: note,
          failure_reason: null,
        },
        detail: { note, holdDays: options.holdDays },
      });
      result.approved.push(...moved.map((row) => row.id.toString()));
    }
    if (ids.length < batchSize) break;
  }
  return result;
}
