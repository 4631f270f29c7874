import { describe, expect, it } from "vitest";
import { MINT_BATCH_STATUSES } from "../../src/domain/enums.js";
import {
  batchStatusesInto,
  MINT_BATCH_TRANSITIONS,
  OPEN_BATCH_STATUSES,
} from "../../src/domain/mint-batch-state.js";

// Written out independently of the module (docs/runbook.md, docs/contracts.md "Wallet mode").
const ALLOWED = new Set([
  "claimed>signed",
  "claimed>released",
  "claimed>awaiting_approval",
  "awaiting_approval>approval_signed",
  "awaiting_approval>released",
  "approval_signed>signed",
  "approval_signed>released",
  "signed>signed",
  "signed>confirmed",
  "signed>released",
  "signed>failed",
]);

describe("mint batch state machine", () => {
  it("allows exactly the documented moves, wallet mode included", () => {
    for (const from of MINT_BATCH_STATUSES) {
      for (const to of MINT_BATCH_STATUSES) {
        expect(MINT_BATCH_TRANSITIONS[from].includes(to), `${from} → ${to}`).toBe(
          ALLOWED.has(`${from}>${to}`),
        );
      }
    }
  });

  it("never sends a batch awaiting approval: only a stored signature (approval_signed) leads on to signed", () => {
    expect(batchStatusesInto("signed").sort()).toEqual(["approval_signed", "claimed", "signed"]);
    expect(batchStatusesInto("approval_signed")).toEqual(["awaiting_approval"]);
  });

  it("counts the wallet-mode statuses as open (one batch in flight per operator)", () => {
    expect([...OPEN_BATCH_STATUSES].sort()).toEqual(
      ["approval_signed", "awaiting_approval", "claimed", "signed"].sort(),
    );
  });
});
