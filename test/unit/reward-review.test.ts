import { describe, expect, it } from "vitest";
import { canTransition, reviewableFrom, reviewOutcome } from "../../src/domain/reward-state.js";

describe("admin decisions on rewards (reviewOutcome)", () => {
  it("refuses approve and reject of a reward held for a dispute", () => {
    expect(reviewOutcome("held", "dispute", "approved")).toEqual({ skip: "held_for_dispute" });
    expect(reviewOutcome("held", "dispute", "rejected")).toEqual({ skip: "held_for_dispute" });
  });

  it("allows approve and reject of a reward held for an amount mismatch or a review", () => {
    for (const reason of ["amount_mismatch", "review"] as const) {
      expect(reviewOutcome("held", reason, "approved")).toBe("apply");
      expect(reviewOutcome("held", reason, "rejected")).toBe("apply");
    }
    expect(canTransition("held", "rejected")).toBe(true);
  });

  it("reports the same decision again as unchanged, not as a move", () => {
    expect(reviewOutcome("approved", null, "approved")).toBe("unchanged");
    expect(reviewOutcome("rejected", null, "rejected")).toBe("unchanged");
    expect(reviewableFrom("approved")).not.toContain("approved");
    expect(reviewableFrom("rejected")).not.toContain("rejected");
  });

  it("moves from the statuses the state machine allows, leaving in-flight and terminal rewards alone", () => {
    expect(reviewableFrom("approved").sort()).toEqual(["failed", "held", "pending_approval"]);
    expect(reviewableFrom("rejected").sort()).toEqual(["approved", "held", "pending_approval"]);
    expect(reviewOutcome("minting", null, "approved")).toEqual({ skip: "status_minting" });
    expect(reviewOutcome("minted", null, "rejected")).toEqual({ skip: "status_minted" });
    expect(reviewOutcome("failed", null, "rejected")).toEqual({ skip: "status_failed" });
  });
});
