import { type RawBuilder, sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import {
  checkSettlementTransition,
  checkTransition,
  type HoldReason,
  type RewardStatus,
  type SettlementStatus,
} from "../domain/reward-state.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

interface Move<S extends string> {
  id: bigint;
  from: S;
  to: S;
  action: string;
  detail?: Record<string, unknown>;
}

/**
 * Moves one settlement from `from` to `to`. The move is checked against the domain's state machine
 * (an illegal one throws `invalid_transition`), applied only while the row is still in `from` (a
 * conditional UPDATE, never read-then-write) and audited. Returns whether the row moved.
 */
export async function moveSettlement(
  trx: DbOrTx,
  actor: Actor,
  move: Move<SettlementStatus>,
): Promise<boolean> {
  if (checkSettlementTransition(move.from, move.to) === "noop") return false;
  return moveRow(trx, actor, "settlements", "settlement", move);
}

/**
 * Moves many settlements from `from` to `to` in ONE conditional UPDATE — the ones named (`ids`) or
 * those of a payout (`payoutId`) — checked against the state machine first, as `moveSettlement`;
 * rows no longer in `from` are left alone, each moved row is audited. `set`: the payout a settlement
 * joins. Returns the ids moved.
 */
export async function moveSettlements(
  trx: DbOrTx,
  actor: Actor,
  move: {
    where: { ids: bigint[] } | { payoutId: bigint };
    from: SettlementStatus;
    to: SettlementStatus;
    action: string;
    set?: { payout_id: bigint };
    detail?: Record<string, unknown>;
  },
): Promise<bigint[]> {
  if (checkSettlementTransition(move.from, move.to) === "noop") return [];
  if ("ids" in move.where && move.where.ids.length === 0) return [];
  let query = trx
    .updateTable("settlements")
    .set({ ...move.set, status: move.to, updated_at: sql<Date>`now()` })
    .where("status", "=", move.from);
  query =
    "ids" in move.where
      ? query.where("id", "in", move.where.ids)
      : query.where("payout_id", "=", move.where.payoutId);
  const rows = await query.returning("id").execute();
  for (const row of rows) {
    await audit(
      trx,
      actor,
      move.action,
      { type: "settlement", id: row.id },
      { status: move.from },
      { status: move.to, ...move.detail },
    );
  }
  return rows.map((row) => row.id);
}

/**
 * The same for a reward (see `moveSettlement`). A move into `held` names its `holdReason` (stored on
 * the row; leaving `held` clears it); `fromHoldReason` moves a held reward only while it is held for
 * that reason (a dispute releases only its own hold).
 */
export async function moveReward(
  trx: DbOrTx,
  actor: Actor,
  move: Move<RewardStatus> & { holdReason?: HoldReason; fromHoldReason?: HoldReason },
): Promise<boolean> {
  if (checkTransition(move.from, move.to) === "noop") return false;
  if (move.to === "held" && !move.holdReason) {
    throw new AppError("internal", `reward ${move.id}: a move into held needs a hold reason`);
  }
  let query = trx
    .updateTable("referral_rewards")
    .set({
      status: move.to,
      hold_reason: move.to === "held" ? move.holdReason! : null,
      updated_at: sql<Date>`now()`,
    })
    .where("id", "=", move.id)
    .where("status", "=", move.from);
  if (move.fromHoldReason) query = query.where("hold_reason", "=", move.fromHoldReason);
  const row = await query.returning("id").executeTakeFirst();
  if (!row) return false;
  await audit(
    trx,
    actor,
    move.action,
    { type: "reward", id: move.id },
    { status: move.from, ...(move.from === "held" ? { holdReason: move.fromHoldReason ?? null } : {}) },
    { status: move.to, ...(move.to === "held" ? { holdReason: move.holdReason } : {}), ...move.detail },
  );
  return true;
}

/**
 * Changes why a held reward is held (a dispute taking over a mismatch or review hold, and giving it
 * back), only while it is still held for `from`; audited. Returns whether the row changed.
 */
export async function changeHoldReason(
  trx: DbOrTx,
  actor: Actor,
  change: { id: bigint; from: HoldReason; to: HoldReason; action: string; detail?: Record<string, unknown> },
): Promise<boolean> {
  if (change.from === change.to) return false;
  const row = await trx
    .updateTable("referral_rewards")
    .set({ hold_reason: change.to, updated_at: sql<Date>`now()` })
    .where("id", "=", change.id)
    .where("status", "=", "held")
    .where("hold_reason", "=", change.from)
    .returning("id")
    .executeTakeFirst();
  if (!row) return false;
  await audit(
    trx,
    actor,
    change.action,
    { type: "reward", id: change.id },
    { status: "held", holdReason: change.from },
    { status: "held", holdReason: change.to, ...change.detail },
  );
  return true;
}

export interface RewardBatchMove {
  /** Rewards to move; rows not in one of `from` (or locked, with `skipLocked`) are left alone. */
  ids: bigint[];
  from: readonly RewardStatus[];
  to: RewardStatus;
  action: string;
  /** A `held` row moves only while held for one of these reasons. */
  holdReasons?: readonly HoldReason[];
  /** Further columns to set (values, or SQL such as `now()`). */
  set?: Record<string, string | null | RawBuilder<unknown>>;
  /** A further condition on the row, as SQL over the alias `r` (e.g. "no refund yet"). */
  where?: RawBuilder<boolean>;
  /** Pass over rows another transaction holds instead of waiting for them (jobs). */
  skipLocked?: boolean;
  /** Merged into each audit entry's `after`. */
  detail?: Record<string, unknown>;
}

/**
 * Moves many rewards in ONE conditional UPDATE, each move checked against the state machine first
 * (every `from` must be a real move to `to`: a same-state "move" is refused here, so rows already in
 * `to` are never matched and never rewritten). The rows are locked and re-checked by the statement
 * itself (`FOR UPDATE` re-evaluates the condition on the newest row version), and one audit entry per
 * moved row is written by the same statement. Returns the moved rows with their status before.
 */
export async function moveRewards(
  trx: DbOrTx,
  actor: Actor,
  move: RewardBatchMove,
): Promise<Array<{ id: bigint; from: RewardStatus; holdReason: HoldReason | null }>> {
  for (const from of move.from) {
    if (checkTransition(from, move.to) === "noop") {
      throw new AppError("internal", `a batch move to ${move.to} cannot include rows already in it`);
    }
  }
  if (move.ids.length === 0 || move.from.length === 0) return [];
  if (move.to === "held") throw new AppError("internal", "batch moves into held are not supported");
  const holdReasons = move.holdReasons ?? [];
  const heldCondition = holdReasons.length
    ? sql`(r.status <> 'held' OR r.hold_reason IN (${sql.join(holdReasons)}))`
    : sql`r.status <> 'held'`;
  const sets = [
    sql`status = ${move.to}`,
    sql`hold_reason = NULL`,
    sql`updated_at = now()`,
    ...Object.entries(move.set ?? {}).map(([column, value]) => sql`${sql.ref(column)} = ${value}`),
  ];
  const after = JSON.stringify({ status: move.to, ...move.detail });
  const result = await sql<{
    id: bigint | string;
    from_status: RewardStatus;
    from_hold_reason: HoldReason | null;
  }>`
    WITH old AS (
      SELECT r.id, r.status, r.hold_reason FROM referral_rewards r
       WHERE r.id IN (${sql.join(move.ids)})
         AND r.status IN (${sql.join(move.from)})
         AND ${heldCondition}
         ${move.where ? sql`AND ${move.where}` : sql``}
       ORDER BY r.id
       FOR UPDATE ${move.skipLocked ? sql`SKIP LOCKED` : sql``}
    ), moved AS (
      UPDATE referral_rewards t SET ${sql.join(sets)}
        FROM old
       WHERE t.id = old.id AND t.status = old.status
      RETURNING t.id, old.status AS from_status, old.hold_reason AS from_hold_reason
    ), audited AS (
      INSERT INTO audit_log (actor, action, subject_type, subject_id, before, after, request_id)
      SELECT ${actor.id}, ${move.action}, 'reward', moved.id::text,
             jsonb_strip_nulls(jsonb_build_object('status', moved.from_status, 'holdReason', moved.from_hold_reason)),
             ${after}::jsonb, ${actor.requestId ?? null}
        FROM moved
    )
    SELECT id, from_status, from_hold_reason FROM moved ORDER BY id`.execute(trx);
  return result.rows.map((row) => ({
    id: BigInt(row.id),
    from: row.from_status,
    holdReason: row.from_hold_reason,
  }));
}

async function moveRow(
  trx: DbOrTx,
  actor: Actor,
  table: "settlements" | "referral_rewards",
  subjectType: string,
  move: Move<string>,
): Promise<boolean> {
  // Both tables share (id, status, updated_at); the cast only widens the status type checked above.
  const row = await trx
    .updateTable(table as "settlements")
    .set({ status: move.to as SettlementStatus, updated_at: sql<Date>`now()` })
    .where("id", "=", move.id)
    .where("status", "=", move.from as SettlementStatus)
    .returning("id")
    .executeTakeFirst();
  if (!row) return false;
  await audit(
    trx,
    actor,
    move.action,
    { type: subjectType, id: move.id },
    { status: move.from },
    { status: move.to, ...move.detail },
  );
  return true;
}
