import { AppError } from "../errors.js";
import { type HoldReason, REWARD_STATUSES, type RewardStatus } from "./enums.js";

/**
 * The reward and settlement state machines (DESIGN.md "State machines"). Every status change in the
 * ledger goes through `checkTransition` / `checkSettlementTransition`: an illegal move fails loudly
 * with `invalid_transition` (409), and repeating the move a row has already made is a no-op, so
 * retried requests and racing jobs are harmless.
 */

// The sets themselves live in enums.ts (one definition, shared with the schema types and the pages).
export { HOLD_REASONS, type HoldReason, REWARD_STATUSES, type RewardStatus } from "./enums.js";

/**
 * Allowed reward moves. `minting → approved` is the minter proving a batch unsent or unpaid on chain;
 * `failed → approved` is an admin retry; leaving `held` returns to the status it was held from (the
 * caller names it), is an admin's decision (`approved`/`rejected`, only for the hold reasons in
 * `ADMIN_RELEASABLE_HOLDS`) or cancels. `minted`, `rejected` and `cancelled` are terminal: a refund after mint
 * is a clawback entry, not a status change.
 */
export const REWARD_TRANSITIONS: Readonly<Record<RewardStatus, readonly RewardStatus[]>> = Object.freeze({
  pending_approval: ["approved", "rejected", "cancelled", "held"],
  approved: ["minting", "rejected", "cancelled", "held"],
  minting: ["minted", "approved", "failed"],
  minted: [],
  rejected: [],
  cancelled: [],
  failed: ["approved"],
  held: ["pending_approval", "approved", "rejected", "cancelled"],
});

/*
 * Why a reward is `held` (HOLD_REASONS). `dispute`: a chargeback is open — only the dispute's outcome
 * releases it (won → back where it was, lost → refunded); `amount_mismatch`: the payment differed from
 * the order total; `review`: put aside for an admin.
 */

/** Hold reasons an admin may end by approving or rejecting the reward. */
export const ADMIN_RELEASABLE_HOLDS: readonly HoldReason[] = Object.freeze(["amount_mismatch", "review"]);

/** An admin's decision on a reward. */
export type ReviewDecision = "approved" | "rejected";

/**
 * What an admin's approve/reject does to a reward in `status` (held for `holdReason`):
 * `"apply"` moves it, `"unchanged"` means it is already there (a repeat changes nothing), and a
 * `{ skip }` reason otherwise — `held_for_dispute` for a chargeback hold, `status_<status>` for a
 * status the decision cannot leave.
 */
export function reviewOutcome(
  status: RewardStatus,
  holdReason: HoldReason | null,
  decision: ReviewDecision,
): "apply" | "unchanged" | { skip: string } {
  if (status === decision) return "unchanged";
  if (status === "held" && !(holdReason && ADMIN_RELEASABLE_HOLDS.includes(holdReason))) {
    return { skip: holdReason === "dispute" ? "held_for_dispute" : "status_held" };
  }
  if (status === "minting") return { skip: `status_${status}` }; // the minter owns rewards in flight
  return REWARD_TRANSITIONS[status].includes(decision) ? "apply" : { skip: `status_${status}` };
}

/** The statuses an admin's decision moves rewards from (the state machine, less what the minter owns). */
export function reviewableFrom(decision: ReviewDecision): RewardStatus[] {
  return REWARD_STATUSES.filter((status) => reviewOutcome(status, "review", decision) === "apply");
}

/** Whether a reward may move from `from` to `to` (a same-state "move" counts as allowed: it is a no-op). */
export function canTransition(from: RewardStatus, to: RewardStatus): boolean {
  return from === to || REWARD_TRANSITIONS[from].includes(to);
}

/**
 * Decides a reward status change: `"noop"` when it is already in `to`, `"apply"` when the move is
 * allowed.
 * @throws AppError("invalid_transition") for any other move.
 */
export function checkTransition(from: RewardStatus, to: RewardStatus): "apply" | "noop" {
  if (from === to) return "noop";
  if (REWARD_TRANSITIONS[from].includes(to)) return "apply";
  throw new AppError("invalid_transition", `cannot move a reward from ${from} to ${to}`, {
    details: { from, to },
  });
}

/** Every status a vendor settlement can have. */
export type SettlementStatus = "pending" | "due" | "in_payout" | "paid" | "held" | "cancelled";

/** All settlement statuses, in lifecycle order. */
export const SETTLEMENT_STATUSES: readonly SettlementStatus[] = Object.freeze([
  "pending",
  "due",
  "in_payout",
  "paid",
  "held",
  "cancelled",
]);

/**
 * Allowed settlement moves. `in_payout → due` is a failed payout going back in the queue. `paid` and
 * `cancelled` are terminal: refunds after payout are negative adjustments netted from the next payout.
 * `held → cancelled`: a full refund of a held order (amount mismatch, dispute) leaves nothing to pay.
 */
export const SETTLEMENT_TRANSITIONS: Readonly<Record<SettlementStatus, readonly SettlementStatus[]>> =
  Object.freeze({
    pending: ["due", "held", "cancelled"],
    due: ["in_payout", "held", "cancelled"],
    in_payout: ["paid", "due"],
    paid: [],
    held: ["pending", "due", "cancelled"],
    cancelled: [],
  });

/** Whether a settlement may move from `from` to `to` (same state counts as allowed: it is a no-op). */
export function canSettlementTransition(from: SettlementStatus, to: SettlementStatus): boolean {
  return from === to || SETTLEMENT_TRANSITIONS[from].includes(to);
}

/**
 * Decides a settlement status change: `"noop"` when already in `to`, `"apply"` when allowed.
 * @throws AppError("invalid_transition") for any other move.
 */
export function checkSettlementTransition(from: SettlementStatus, to: SettlementStatus): "apply" | "noop" {
  if (from === to) return "noop";
  if (SETTLEMENT_TRANSITIONS[from].includes(to)) return "apply";
  throw new AppError("invalid_transition", `cannot move a settlement from ${from} to ${to}`, {
    details: { from, to },
  });
}
