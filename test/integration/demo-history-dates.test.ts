import { describe, it } from "vitest";
import { seedDemoHistory } from "../../src/demo/history.js";
import { seedDemo } from "../../src/demo/seed.js";
import { TEST_DB, useTestInstance } from "../support/harness.js";
import { expectEveryReviewedStatus } from "../support/reward-statuses.js";

/**
 * The demo history is the same on every boot of one day, but its days follow the calendar (the weekly
 * shape of visits and orders), so which referrer has an order on which day changes with the date. On
 * 2026-12-04 no reward was left approved (only Olena's were kept back, and she had none 3–6 days old):
 * one week of dates, each weekday once, must each show every status a reviewer meets.
 */
const DATES = [
  "2026-11-30",
  "2026-12-01",
  "2026-12-02",
  "2026-12-03",
  "2026-12-04",
  "2026-12-05",
  "2026-12-06",
];

for (const date of DATES) {
  describe(`demo history on ${date} (${TEST_DB})`, () => {
    const t = useTestInstance({
      seed: false,
      env: { DEMO_FILE: `/tmp/twinrail-history-${process.pid}-${date}.json` },
    });

    it("leaves a reward in every status a reviewer meets", { timeout: 240_000 }, async () => {
      const { db, config, chain, minter } = t.services;
      await seedDemo(db, config, chain);
      await seedDemoHistory({ db, config, minter }, { now: new Date(`${date}T15:00:00Z`) });
      const rows = await db.selectFrom("referral_rewards").select("status").distinct().execute();
      expectEveryReviewedStatus(rows.map((r) => r.status));
    });
  });
}
