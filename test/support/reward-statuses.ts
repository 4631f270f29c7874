import { expect } from "vitest";
import { REWARD_STATUSES } from "../../src/domain/enums.js";

/**
 * Every reward status a reviewer meets on the pages is among `seen` (minting and failed are a batch's
 * passing states, not left behind by a seeded history).
 */
export function expectEveryReviewedStatus(seen: Iterable<string>): void {
  const statuses = new Set(seen);
  for (const status of REWARD_STATUSES.filter((s) => s !== "minting" && s !== "failed"))
    expect(statuses, `a ${status} reward`).toContain(status);
}
