import { execFileSync } from "node:child_process";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReadReplica } from "../../src/db/read-replica.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DATABASE_URL,
  type TestInstance,
} from "../support/harness.js";

/**
 * READ_DATABASE_URL (issue 12.7) against a real primary + streaming replica pair made by
 * scripts/pg-replica-pair.sh (primary 5441, replica 5442; `npm test` creates, runs and stops it).
 * With replay paused on the replica, a write lands on the primary while the dashboards keep showing
 * the replica's older data and say so (source, lag, as-of headers); resumed, they catch up; with the
 * replica stopped, the same pages answer from the primary and /readyz says the replica is down.
 * Run with TEST_DB=postgres TEST_DATABASE_URL=<primary>.
 */
const PG_VERSION = process.env.PG_VERSION ?? "15";
const STANDBY_URL = process.env.REPLICA_STANDBY_URL ?? "postgres://postgres@127.0.0.1:5442/test";
if (/:(5432|5439)\//.test(STANDBY_URL) || /:(5432|5439)\//.test(TEST_DATABASE_URL))
  throw new Error("the replica test runs on its own pair (scripts/pg-replica-pair.sh), never 5432 or 5439");

const standby = new pg.Pool({ connectionString: STANDBY_URL, max: 2 });
standby.on("error", () => undefined);
const primary = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
const stopStandby = () =>
  execFileSync("pg_ctlcluster", [
    "--skip-systemctl-redirect",
    PG_VERSION,
    "replica_standby",
    "stop",
    "-m",
    "fast",
  ]);
const startStandby = () =>
  execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", PG_VERSION, "replica_standby", "start"]);

async function caughtUp(): Promise<void> {
  const target = (await primary.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]!
    .lsn;
  for (let i = 0; i < 200; i++) {
    const { rows } = await standby.query<{ done: boolean }>(
      "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done",
      [target],
    );
    if (rows[0]?.done) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the replica did not catch up within 10 s");
}

describe("read replica", () => {
  let t: TestInstance;
  const adminGet = (path: string) => t.request("GET", path, { key: t.keys.admin });
  const rewardRefs = async () =>
    ((await adminGet("/v1/admin/rewards")).body.items as { orderReference: string }[])
      .map((item) => item.orderReference)
      .sort();
  const pay = async (ref: string) => {
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    expect((await t.webhook(paidEvent(ref, "170000"))).status).toBe(200);
  };

  beforeAll(async () => {
    t = await startTestInstance({ READ_DATABASE_URL: STANDBY_URL, READ_MAX_LAG_SECONDS: "3600" });
    await seedCatalog(t);
    await pay("rr-1");
    await caughtUp();
  });
  afterAll(async () => {
    await standby.query("SELECT pg_wal_replay_resume()").catch(() => undefined);
    await t?.close();
    await standby.end();
    await primary.end();
  });

  it("reads the dashboards from the replica and says so", async () => {
    const rewards = await adminGet("/v1/admin/rewards");
    expect(rewards.status).toBe(200);
    expect(rewards.headers.get("x-twinrail-read-source")).toBe("replica");
    expect(Number(rewards.headers.get("x-twinrail-replica-lag-seconds"))).toBeGreaterThanOrEqual(0);
    expect(await rewardRefs()).toEqual(["rr-1"]);
    const vendorKey = await t.keys.vendor("v_books");
    for (const [path, key] of [
      ["/v1/admin/stats", t.keys.admin],
      ["/v1/admin/settlements", t.keys.admin],
      ["/v1/admin/payouts", t.keys.admin],
      ["/v1/me/rewards", t.memberToken("m_anna")],
      ["/v1/vendor/summary", vendorKey],
      ["/v1/vendor/settlements?format=csv", vendorKey],
    ] as const) {
      const res = await t.request("GET", path, { key });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("x-twinrail-read-source"), path).toBe("replica");
    }
    const me = await t.request("GET", "/v1/me", { key: t.memberToken("m_anna") });
    expect(me.status).toBe(200);
    expect(me.headers.get("x-twinrail-read-source")).toBe("replica");
  });

  it("writes go to the primary while the replica lags, and the lag is reported", async () => {
    await standby.query("SELECT pg_wal_replay_pause()");
    await pay("rr-2");
    // The primary has both rewards; the replica, paused, still shows one.
    const onPrimary = await primary.query(
      `SELECT order_reference FROM ${t.schema}.referral_rewards ORDER BY order_reference`,
    );
    expect(onPrimary.rows.map((row) => row.order_reference)).toEqual(["rr-1", "rr-2"]);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // past the probe cache, and lag ≥ 1 s
    const stale = await adminGet("/v1/admin/rewards");
    expect(stale.headers.get("x-twinrail-read-source")).toBe("replica");
    expect(Number(stale.headers.get("x-twinrail-replica-lag-seconds"))).toBeGreaterThanOrEqual(1);
    const asOf = Date.parse(stale.headers.get("x-twinrail-data-as-of") ?? "");
    expect(Date.now() - asOf).toBeGreaterThanOrEqual(1000);
    expect(await rewardRefs()).toEqual(["rr-1"]);
    // With a tighter bound the same lag sends reads to the primary.
    const strict = new ReadReplica(t.services.db, { url: STANDBY_URL, schema: t.schema, maxLagSeconds: 1 });
    try {
      const pick = await strict.pick();
      expect(pick.source).toBe("primary");
      expect((await strict.status()).fallbackReason).toMatch(/lags/);
      const n = await sql<{ n: bigint }>`SELECT count(*) AS n FROM referral_rewards`.execute(pick.db);
      expect(Number(n.rows[0]?.n)).toBe(2);
    } finally {
      await strict.close();
    }

    await standby.query("SELECT pg_wal_replay_resume()");
    await caughtUp();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await rewardRefs()).toEqual(["rr-1", "rr-2"]);
  });

  it("falls back to the primary when the replica is down, and /readyz says so", async () => {
    stopStandby();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the last good probe expires
      const rewards = await adminGet("/v1/admin/rewards");
      expect(rewards.status).toBe(200);
      expect(rewards.headers.get("x-twinrail-read-source")).toBe("primary");
      expect(rewards.headers.get("x-twinrail-replica-lag-seconds")).toBeNull();
      expect(await rewardRefs()).toEqual(["rr-1", "rr-2"]);
      const ready = await t.request("GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body.database.replica).toMatchObject({ configured: true, ok: false, reads: "primary" });
      expect(ready.body.database.replica.fallbackReason).toMatch(/unavailable/);
      // Writes never needed the replica.
      await pay("rr-3");
      expect(await rewardRefs()).toEqual(["rr-1", "rr-2", "rr-3"]);
    } finally {
      startStandby();
    }
  });
});
