import { describe, expect, it } from "vitest";
import {
  canSettlementTransition,
  canTransition,
  checkSettlementTransition,
  checkTransition,
  REWARD_STATUSES,
  type RewardStatus,
  SETTLEMENT_STATUSES,
  type SettlementStatus,
} from "../../src/domain/reward-state.js";
import { AppError } from "../../src/errors.js";

// Written out independently of the module, straight from DESIGN.md "State machines".
const ALLOWED_REWARD_MOVES = new Set([
  "pending_approval>approved",
  "pending_approval>rejected",
  "pending_approval>cancelled",
  "pending_approval>held",
  "approved>minting",
  "approved>rejected",
  "approved>cancelled",
  "approved>held",
  "minting>minted",
  "minting>approved",
  "minting>failed",
  "failed>approved",
  "held>pending_approval",
  "held>approved",
  "held>rejected", // an admin's decision on a mismatch or review hold (never a dispute hold)
  "held>cancelled",
]);

const ALLOWED_SETTLEMENT_MOVES = new Set([
  "pending>due",
  "pending>held",
  "pending>cancelled",
  "due>in_payout",
  "due>held",
  "due>cancelled",
  "in_payout>paid",
  "in_payout>due",
  "held>pending",
  "held>due",
  "held>cancelled", // a full refund of a held order
]);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

const rewardPairs = REWARD_STATUSES.flatMap((from) => REWARD_STATUSES.map((to) => [from, to] as const));
const settlementPairs = SETTLEMENT_STATUSES.flatMap((from) =>
  SETTLEMENT_STATUSES.map((to) => [from, to] as const),
);

describe("reward state machine", () => {
  it("lists all eight statuses", () => {
    expect([...REWARD_STATUSES].sort()).toEqual(
      ["approved", "cancelled", "failed", "held", "minted", "minting", "pending_approval", "rejected"].sort(),
    );
  });

  it.each(
    rewardPairs,
  )("%s → %s is applied, a no-op, or refused with invalid_transition per the table", (from, to) => {
    if (from === to) {
      expect(checkTransition(from, to)).toBe("noop");
      expect(canTransition(from, to)).toBe(true);
    } else if (ALLOWED_REWARD_MOVES.has(`${from}>${to}`)) {
      expect(checkTransition(from, to)).toBe("apply");
      expect(canTransition(from, to)).toBe(true);
    } else {
      const error = thrown(() => checkTransition(from, to));
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("invalid_transition");
      expect((error as AppError).status).toBe(409);
      expect((error as AppError).message).toBe(`cannot move a reward from ${from} to ${to}`);
      expect((error as AppError).details).toEqual({ from, to });
      expect(canTransition(from, to)).toBe(false);
    }
  });

  it.each(["minted", "rejected", "cancelled"] as RewardStatus[])("%s is terminal", (from) => {
    for (const to of REWARD_STATUSES) {
      if (to !== from) expect(canTransition(from, to)).toBe(false);
    }
  });
});

describe("settlement state machine", () => {
  it.each(
    settlementPairs,
  )("%s → %s is applied, a no-op, or refused with invalid_transition per the table", (from, to) => {
    if (from === to) {
      expect(checkSettlementTransition(from, to)).toBe("noop");
      expect(canSettlementTransition(from, to)).toBe(true);
    } else if (ALLOWED_SETTLEMENT_MOVES.has(`${from}>${to}`)) {
      expect(checkSettlementTransition(from, to)).toBe("apply");
      expect(canSettlementTransition(from, to)).toBe(true);
    } else {
      const error = thrown(() => checkSettlementTransition(from, to));
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe("invalid_transition");
      expect((error as AppError).message).toBe(`cannot move a settlement from ${from} to ${to}`);
      expect((error as AppError).details).toEqual({ from, to });
      expect(canSettlementTransition(from, to)).toBe(false);
    }
  });

  it.each(["paid", "cancelled"] as SettlementStatus[])("%s is terminal", (from) => {
    for (const to of SETTLEMENT_STATUSES) {
      if (to !== from) expect(canSettlementTransition(from, to)).toBe(false);
    }
  });
});
