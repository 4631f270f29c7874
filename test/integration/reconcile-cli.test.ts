import { spawnSync } from "node:child_process";
import path from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DATABASE_URL,
  TEST_DB,
} from "../support/harness.js";

const root = path.resolve(__dirname, "../..");

function reconcileCli(env: Record<string, string>, flags: string[] = []) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "reconcile", ...flags], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "silent", DEMO: "0", JOBS: "0", DATABASE_URL: "", RPC_URL: "", ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
}

describe("twinrail reconcile", () => {
  it("exits 0 and reports ok on a consistent (fresh) ledger", () => {
    const run = reconcileCli({});
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout.trim().split("\n").pop()!)).toMatchObject({ ok: true, mismatches: 0 });
  });

  it.skipIf(TEST_DB !== "postgres")("exits 1 and names the mismatch when the rails disagree", async () => {
    const t = await startTestInstance();
    try {
      await seedCatalog(t);
      await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody("ord_cli") });
      expect((await t.webhook(paidEvent("ord_cli", "170000"))).status).toBe(200);
      expect(reconcileCli({ DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: t.schema! }).status).toBe(0);
      await sql`UPDATE settlements SET referral_commission = referral_commission + 1, net = net - 1
                WHERE order_reference = 'ord_cli' AND vendor_id = 'v_games'`.execute(t.services.db);
      const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: t.schema! };
      // Planted without a journal row, in an order the previous run saw: only --full looks again.
      const incremental = reconcileCli(env);
      expect(incremental.status).toBe(0);
      expect(JSON.parse(incremental.stdout.trim().split("\n").pop()!)).toMatchObject({ mode: "incremental" });
      const run = reconcileCli(env, ["--full"]);
      expect(run.status).toBe(1);
      expect(run.stderr).toContain("MISMATCH rails: order ord_cli");
    } finally {
      await t.close();
    }
  });
});
