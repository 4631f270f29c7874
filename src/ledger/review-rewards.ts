import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { Reward, RewardStatusColumn } from "../db/schema.js";
import { canTransition, type RewardStatus } from "../domain/reward-state.js";
import { type Actor, audit } from "./audit.js";
import { computeFraudSignals, type FraudSignalThresholds, mergeSignals } from "./fraud-signals.js";
import { reverseRejectedRewards } from "./reward-changes.js";

export interface ReviewResult {
  approved: string[];
  skipped: Array<{ id: string; reason: string }>;
}

/**
 * Moves rewards to `approved` or `rejected`. Each id is decided by the row's state at the moment of the
 * update (a conditional UPDATE, no read-then-write): a repeat is a no-op, an illegal move is skipped
 * with the reward's current status as the reason, never an error for the whole call.
 */
export async function reviewRewards(
  db: DbOrTx,
  actor: Actor,
  input: { ids: bigint[]; decision: "approved" | "rejected"; note?: string | null },
): Promise<{ done: string[]; skipped: Array<{ id: string; reason: string }> }> {
  const target: RewardStatus = input.decision;
  const from = (["pending_approval", "approved", "held", "failed"] as const).filter((status) =>
    canTransition(status, target),
  );
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable("referral_rewards")
      .set({
        status: target,
        updated_at: sql<Date>`now()`,
        ...(target === "approved"
          ? {
              approved_by: actor.id,
              approved_at: sql<Date>`now()`,
              approval_note: input.note ?? null,
              failure_reason: null,
            }
          : { rejected_reason: input.note ?? null }),
      })
      .where("id", "in", input.ids)
      .where("status", "in", from as RewardStatusColumn[])
      .returning(["id"])
      .execute();
    // A rejection takes the reward out of the books and gives back any clawback debt it had netted.
    if (target === "rejected")
      await reverseRejectedRewards(
        trx,
        updated.map((row) => row.id),
      );
    const done = new Set(updated.map((row) => row.id.toString()));
    for (const id of done) {
      await audit(trx, actor, `reward.${input.decision}`, { type: "reward", id }, null, {
        status: target,
        note: input.note ?? null,
      });
    }
    const rest = input.ids.filter((id) => !done.has(id.toString()));
    const current = rest.length
      ? await trx.selectFrom("referral_rewards").select(["id", "status"]).where("id", "in", rest).execute()
      : [];
    const statusOf = new Map(current.map((row) => [row.id.toString(), row.status]));
    const skipped: Array<{ id: string; reason: string }> = [];
    for (const id of rest.map(String)) {
      const status = statusOf.get(id);
      if (status === target)
        done.add(id); // the same transition again is a no-op, not an error
      else skipped.push({ id, reason: status ? `status_${status}` : "not_found" });
    }
    return { done: [...done], skipped };
  });
}

export interface RewardFilter {
  status?: RewardStatusColumn;
  referrer?: string;
  limit: number;
  cursor?: bigint;
}

export interface RewardView {
  id: string;
  orderReference: string;
  referrer: { memberId: string; displayName: string | null; wallet: string | null };
  buyerMemberId: string | null;
  currency: string;
  fiatBasis: string;
  amountWei: string;
  paymentRail: string;
  status: RewardStatusColumn;
  fraudSignals: Array<{ code: string; detail: string }>;
  approvedBy: string | null;
  batchId: string | null;
  txHash: string | null;
  blockNumber: string | null;
  failureReason: string | null;
  createdAt: string;
  ageSeconds: number;
}

/** The approval queue and history, newest first, keyset-paginated by id. */
export async function listRewards(
  db: DbOrTx,
  filter: RewardFilter,
  thresholds?: FraudSignalThresholds,
): Promise<{ items: RewardView[]; nextCursor: string | null }> {
  let query = db
    .selectFrom("referral_rewards as r")
    .innerJoin("members as m", "m.member_id", "r.referrer_member_id")
    .selectAll("r")
    .select(["m.display_name", "m.wallet_address as referrer_wallet"])
    .orderBy("r.id", "desc")
    .limit(filter.limit + 1);
  if (filter.status) query = query.where("r.status", "=", filter.status);
  if (filter.referrer) query = query.where("r.referrer_member_id", "=", filter.referrer);
  if (filter.cursor !== undefined) query = query.where("r.id", "<", filter.cursor);
  const rows = await query.execute();
  const page = rows.slice(0, filter.limit);
  const now = Date.now();
  // Signals are computed at read time and merged with the stored ones; they inform, never decide.
  const computed = await computeFraudSignals(
    db,
    page.map((row) => row.id),
    thresholds,
  );
  return {
    items: page.map((row) => {
      const view = toRewardView(row, row.display_name, row.referrer_wallet, now);
      return { ...view, fraudSignals: mergeSignals(view.fraudSignals, computed.get(view.id)) };
    }),
    nextCursor: rows.length > filter.limit && page.length ? page[page.length - 1]!.id.toString() : null,
  };
}

export function toRewardView(
  row: Reward,
  displayName: string | null,
  wallet: string | null,
  now = Date.now(),
): RewardView {
  return {
    id: row.id.toString(),
    orderReference: row.order_reference,
    referrer: { memberId: row.referrer_member_id, displayName, wallet: row.wallet_address ?? wallet },
    buyerMemberId: row.buyer_member_id,
    currency: row.currency,
    fiatBasis: row.fiat_basis.toString(),
    amountWei: row.amount_wei,
    paymentRail: row.payment_rail,
    status: row.status,
    fraudSignals: row.fraud_signals,
    approvedBy: row.approved_by,
    batchId: row.batch_id?.toString() ?? null,
    txHash: row.tx_hash,
    blockNumber: row.block_number?.toString() ?? null,
    failureReason: row.failure_reason,
    createdAt: row.created_at.toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - row.created_at.getTime()) / 1000)),
  };
}
