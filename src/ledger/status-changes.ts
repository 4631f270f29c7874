import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import {
  checkSettlementTransition,
  checkTransition,
  type RewardStatus,
  type SettlementStatus,
} from "../domain/reward-state.js";
import { type Actor, audit } from "./audit.js";

/**
 * Moves one settlement from `from` to `to`. The move is checked against the domain's state machine
 * (an illegal one throws `invalid_transition`), applied only while the row is still in `from` (a
 * conditional UPDATE, never read-then-write) and audited. Returns whether the row moved.
 */
export async function moveSettlement(
  trx: DbOrTx,
  actor: Actor,
  move: {
    id: bigint;
    from: SettlementStatus;
    to: SettlementStatus;
    action: string;
    detail?: Record<string, unknown>;
  },
): Promise<boolean> {
  if (checkSettlementTransition(move.from, move.to) === "noop") return false;
  const row = await trx
    .updateTable("settlements")
    .set({ status: move.to, updated_at: sql<Date>`now()` })
    .where("id", "=", move.id)
    .where("status", "=", move.from)
    .returning("id")
    .executeTakeFirst();
  if (!row) return false;
  await audit(
    trx,
    actor,
    move.action,
    { type: "settlement", id: move.id },
    { status: move.from },
    { status: move.to, ...move.detail },
  );
  return true;
}

/** The same for a reward (see `moveSettlement`). */
export async function moveReward(
  trx: DbOrTx,
  actor: Actor,
  move: {
    id: bigint;
    from: RewardStatus;
    to: RewardStatus;
    action: string;
    detail?: Record<string, unknown>;
  },
): Promise<boolean> {
  if (checkTransition(move.from, move.to) === "noop") return false;
  const row = await trx
    .updateTable("referral_rewards")
    .set({ status: move.to, updated_at: sql<Date>`now()` })
    .where("id", "=", move.id)
    .where("status", "=", move.from)
    .returning("id")
    .executeTakeFirst();
  if (!row) return false;
  await audit(
    trx,
    actor,
    move.action,
    { type: "reward", id: move.id },
    { status: move.from },
    { status: move.to, ...move.detail },
  );
  return true;
}
