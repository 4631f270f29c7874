import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadlocks } from "../support/deadlocks.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

/**
 * Distinct events that share a row: many different orders for ONE referrer, and signups that cross
 * each other's codes with caps on. Before the lock order was fixed these deadlocked on the referrer's
 * `members` row (a foreign-key insert takes FOR KEY SHARE, a later FOR UPDATE waits for everyone's).
 */
const ORDERS = Number(process.env.HOT_ROW_ORDERS ?? 120);
const CONCURRENCY = 16;

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await tasks[index]!();
      }
    }),
  );
  return results;
}

describe(`distinct events sharing a row (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance({
      ATTRIBUTION_CAP_PER_REFERRER_MONTH: "1000",
      ATTRIBUTION_CAP_PER_IP_DAY: "1000",
    });
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it(`${ORDERS} different orders for one referrer at concurrency ${CONCURRENCY}: every one 200, no deadlock`, async () => {
    const before = await deadlocks();
    const refs = Array.from({ length: ORDERS }, (_, i) => `ord_hot_${i}`);
    const responses = await pool(
      CONCURRENCY,
      refs.map((ref) => () => t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))),
    );
    const bad = responses.filter((r) => r.status !== 200);
    expect(bad.map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual([]);
    expect(responses.every((r) => r.body.result === "recorded")).toBe(true);
    const db = t.services.db;
    const rewards = await db
      .selectFrom("referral_rewards")
      .select((eb) => eb.fn.countAll<bigint>().as("n"))
      .where("order_reference", "like", "ord_hot_%")
      .executeTakeFirstOrThrow();
    expect(Number(rewards.n)).toBe(ORDERS);
    const settlements = await db
      .selectFrom("settlements")
      .select((eb) => eb.fn.countAll<bigint>().as("n"))
      .where("order_reference", "like", "ord_hot_%")
      .executeTakeFirstOrThrow();
    expect(Number(settlements.n)).toBe(ORDERS * 2);
    expect(await deadlocks()).toBe(before);
    const reconcile = await t.request("GET", "/v1/admin/reconcile", { key: t.keys.admin });
    expect(reconcile.status).toBe(200);
    expect(reconcile.body.mismatches ?? reconcile.body.issues ?? []).toEqual([]);
  });

  it("signups crossing each other's codes with caps on: no 5xx, no deadlock, first touch holds", async () => {
    const key = t.keys.integration;
    const pairs = 100;
    const codes: string[] = [];
    for (let i = 0; i < pairs * 2; i++) {
      await t.request("POST", "/v1/members", { key, body: { memberId: `m_x${i}` } });
      const code = await t.request("POST", `/v1/members/m_x${i}/code`, { key, body: {} });
      codes.push(code.body.code);
    }
    const before = await deadlocks();
    // Member 2k signs up with 2k+1's code and 2k+1 with 2k's, all at once.
    const responses = await pool(
      32,
      Array.from({ length: pairs * 2 }, (_, i) => () => {
        const other = i % 2 === 0 ? i + 1 : i - 1;
        return t.request("POST", "/v1/members", {
          key,
          body: { memberId: `m_x${i}`, refCode: codes[other], clientIp: `203.0.113.${i % 200}` },
        });
      }),
    );
    expect(responses.filter((r) => r.status >= 500).map((r) => r.text)).toEqual([]);
    expect(await deadlocks()).toBe(before);
    const rows = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM members a JOIN members b ON a.referred_by_member_id = b.member_id
      WHERE a.member_id LIKE 'm_x%'`.execute(t.services.db);
    expect(Number(rows.rows[0]!.n)).toBeGreaterThan(0);
  });
});
