import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import {
  checkSettlementTransition,
  checkTransition,
  type RewardStatus,
  type SettlementStatus,
} from "../domain/reward-state.js";
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

/** The same for a reward (see `moveSettlement`). */
export async function moveReward(trx: DbOrTx, actor: Actor, move: Move<RewardStatus>): Promise<boolean> {
  if (checkTransition(move.from, move.to) === "noop") return false;
  return moveRow(trx, actor, "referral_rewards", "reward", move);
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
