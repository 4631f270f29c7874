import { sql } from "kysely";
import type { Db, DbOrTx } from "../db/connect.js";
import type { Reward, RewardStatusColumn } from "../db/schema.js";
import {
  ADMIN_RELEASABLE_HOLDS,
  type HoldReason,
  type ReviewDecision,
  type RewardStatus,
  reviewableFrom,
  reviewOutcome,
} from "../domain/reward-state.js";
import type { Actor } from "./audit.js";
import { computeFraudSignals, type FraudSignalThresholds, mergeSignals } from "./fraud-signals.js";
import { releaseMismatchHoldsOfRewards } from "./mismatch-holds.js";
import { reverseRejectedRewards } from "./reward-changes.js";
import { moveRewards } from "./status-changes.js";

export interface ReviewResult {
  /** Rewards now in the target status: moved by this call, or already there (see `unchanged`). */
  done: string[];
  /** Of `done`, the ids that were already in the target status: nothing was written for them. */
  unchanged: string[];
  skipped: Array<{ id: string; reason: string }>;
  /** The rows this call moved, with the status (and hold reason) they left. */
  moved: Array<{ id: bigint; from: RewardStatus; holdReason: HoldReason | null }>;
}

/**
 * Moves rewards to `approved` or `rejected` in one conditional UPDATE (the state machine's moves, see
 * `reviewOutcome`): each id is decided by the row's state at the moment of the update, no
 * read-then-write. A reward held for a dispute is never moved (`held_for_dispute`: only the dispute's
 * outcome releases it); one held for an amount mismatch or a review can be approved or rejected. A
 * reward already in the target status is not touched — approver, note, time and audit trail stay as
 * the first decision left them — and is reported in `unchanged`. Anything else is skipped with the
 * reward's current status as the reason, never an error for the whole call.
 */
export async function reviewRewards(
  db: Db,
  actor: Actor,
  input: { ids: bigint[]; decision: ReviewDecision; note?: string | null },
): Promise<ReviewResult> {
  const target = input.decision;
  return db.transaction().execute(async (trx) => {
    // Approving a reward held for an amount mismatch resolves it: rail A is released too (first: lock order).
    if (target === "approved") await releaseMismatchHoldsOfRewards(trx, actor, input.ids);
    const moved = await moveRewards(trx, actor, {
      ids: input.ids,
      from: reviewableFrom(target),
      to: target,
      holdReasons: ADMIN_RELEASABLE_HOLDS,
      action: `reward.${target}`,
      set:
        target === "approved"
          ? {
              approved_by: actor.id,
              approved_at: sql`now()`,
              approval_note: input.note ?? null,
              failure_reason: null,
            }
          : { rejected_reason: input.note ?? null },
      detail: { note: input.note ?? null },
    });
    // A rejection takes the reward out of the books and gives back any clawback debt it had netted.
    if (target === "rejected")
      await reverseRejectedRewards(
        trx,
        moved.map((row) => row.id),
      );
    const done = new Set(moved.map((row) => row.id.toString()));
    const rest = [...new Set(input.ids.map(String))].filter((id) => !done.has(id));
    const current = rest.length
      ? await trx
          .selectFrom("referral_rewards")
          .select(["id", "status", "hold_reason"])
          .where("id", "in", rest.map(BigInt))
          .execute()
      : [];
    const rowOf = new Map(current.map((row) => [row.id.toString(), row]));
    const unchanged: string[] = [];
    const skipped: Array<{ id: string; reason: string }> = [];
    for (const id of rest) {
      const row = rowOf.get(id);
      if (!row) {
        skipped.push({ id, reason: "not_found" });
        continue;
      }
      const outcome = reviewOutcome(row.status, row.hold_reason, target);
      if (outcome === "unchanged") {
        // The same decision again: a no-op, counted as done (idempotent), reported as unchanged.
        done.add(id);
        unchanged.push(id);
      } else if (outcome === "apply") {
        // Movable now but not when the update ran (a concurrent change): report what it was.
        skipped.push({ id, reason: `status_${row.status}` });
      } else skipped.push({ id, reason: outcome.skip });
    }
    return { done: [...done], unchanged, skipped, moved };
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
  /** Why a `held` reward is held (`dispute`, `amount_mismatch`, `review`); null otherwise. */
  holdReason?: HoldReason | null;
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
      return {
        ...view,
        holdReason: row.hold_reason ?? null,
        fraudSignals: mergeSignals(view.fraudSignals, computed.get(view.id)),
      };
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
