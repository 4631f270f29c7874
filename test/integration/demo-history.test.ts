import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { seedDemoHistory } from "../../src/demo/history.js";
import { seedDemo } from "../../src/demo/seed.js";
import { reconcile } from "../../src/ledger/reconcile.js";
import { signMemberToken } from "../../src/lib/member-token.js";
import { TEST_DB, useTestInstance } from "../support/harness.js";
import { expectEveryReviewedStatus } from "../support/reward-statuses.js";

describe(`demo history: 30 days through the ledger's use cases (${TEST_DB})`, () => {
  const t = useTestInstance({ seed: false, env: { DEMO_FILE: `/tmp/twinrail-history-${process.pid}.json` } });

  it("fills every page's numbers and charts, and the books still reconcile", {
    timeout: 240_000,
  }, async () => {
    const { db, config, chain, minter } = t.services;
    const demo = await seedDemo(db, config, chain);
    const history = await seedDemoHistory({ db, config, minter });
    console.log(`demo history: ${JSON.stringify(history)}`);
    expect(history.orders).toBeGreaterThan(50);
    expect(history.mintedRewards).toBeGreaterThan(5);
    expect(history.payouts).toBeGreaterThanOrEqual(2);

    const statuses = await db
      .selectFrom("referral_rewards")
      .select(["status", (eb) => eb.fn.countAll<string>().as("n")])
      .groupBy("status")
      .execute();
    console.log(`reward statuses: ${statuses.map((s) => `${s.status}=${s.n}`).join(" ")}`);
    expectEveryReviewedStatus(statuses.map((s) => s.status));
    // Orders over 30 days and three vendors; visits with a weekly shape.
    const spread = await sql<{ days: string; vendors: string }>`
      SELECT count(DISTINCT (o.created_at AT TIME ZONE 'utc')::date) AS days, count(DISTINCT s.vendor_id) AS vendors
      FROM orders o JOIN settlements s USING (order_reference)`.execute(db);
    expect(Number(spread.rows[0]?.days)).toBeGreaterThanOrEqual(28);
    expect(Number(spread.rows[0]?.vendors)).toBe(3);
    const payouts = await db.selectFrom("payouts").select("status").execute();
    expect(payouts.map((p) => p.status)).toContain("paid");
    const batches = await db.selectFrom("mint_batches").select("status").execute();
    expect(batches.map((b) => b.status)).toContain("confirmed");

    // The pages' own reads: the admin stats, the referrer dashboard, the vendor summary.
    const stats = await t.request("GET", "/v1/admin/stats", { key: demo.keys.admin });
    expect(stats.status).toBe(200);
    const me = await t.request("GET", "/v1/me", {
      key: signMemberToken(config.secrets.memberToken, "m_anna", 60),
    });
    expect(me.status).toBe(200);
    const daily = me.body.visits.daily as Array<{ day: string; visits: number | string }>;
    expect(daily.length).toBeGreaterThanOrEqual(27);
    const byWeekday = new Map<number, number[]>();
    for (const d of daily) {
      const w = new Date(`${d.day}T00:00:00Z`).getUTCDay();
      byWeekday.set(w, [...(byWeekday.get(w) ?? []), Number(d.visits)]);
    }
    const mean = (xs: number[] = []) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
    expect(mean(byWeekday.get(6))).toBeGreaterThan(mean(byWeekday.get(1)));
    const vendor = await t.request("GET", "/v1/vendor/summary", { key: demo.keys.vendor });
    expect(vendor.status).toBe(200);

    const report = await reconcile(db, chain);
    expect(report.mismatches).toEqual([]);
  });
});
