import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMinter, type Minter } from "../../src/jobs/minter.js";
import { seedRewards } from "../faults/support.js";
import { startTestInstance, TEST_DB, type TestInstance } from "../support/harness.js";

/**
 * Shutdown (issue 13.5): `minter.drain()` lets a running batch reach a safe point. Here the drain
 * comes right after the broadcast and the batch needs 2 confirmations (the embedded chain mines one
 * block per transaction): the receipt wait stops at its next poll, the batch stays signed with its
 * lease expired, and a later minter (the next boot) resumes it and mints every reward exactly once.
 */
describe(`minter drain on shutdown (${TEST_DB})`, () => {
  let t: TestInstance;
  beforeAll(async () => {
    t = await startTestInstance();
  });
  afterAll(async () => {
    await t?.close();
  });

  const minterWith = (confirmations: number, hooks?: Parameters<typeof createMinter>[0]["hooks"]): Minter =>
    createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: t.services.chain,
      config: { batchSize: 20, leaseSeconds: 30, confirmations, pollMs: 20, retryBaseMs: 10 },
      logger: pino({ level: "silent" }),
      hooks,
    });

  it("stops a batch at its receipt wait, refuses new runs, and the next minter resumes it", async () => {
    const rewards = await seedRewards(t.services.db, 3, "drain");
    let drained: Promise<void> | undefined;
    const stopping: Minter = minterWith(2, {
      at: (point) => {
        if (point === "after-broadcast") drained = stopping.drain();
      },
    });
    const result = await stopping.runOnce();
    expect(result).toMatchObject({ status: "waiting", minted: 0 });
    expect(result.error).toContain("shutting down");
    await drained;
    const batch = await t.services.db
      .selectFrom("mint_batches")
      .select(["status", "lease_expires_at"])
      .where("id", "=", BigInt(result.batchId!))
      .executeTakeFirstOrThrow();
    expect(batch.status).toBe("signed");
    expect(new Date(batch.lease_expires_at as Date).getTime()).toBeLessThanOrEqual(Date.now());
    // Draining: no new run starts.
    expect(await stopping.runOnce()).toMatchObject({ status: "busy", error: "shutting down" });

    const next = minterWith(1);
    await next.recover();
    const rows = await t.services.db
      .selectFrom("referral_rewards")
      .select(["status"])
      .where(
        "id",
        "in",
        rewards.map((r) => r.id),
      )
      .execute();
    expect(rows.map((row) => row.status)).toEqual(["minted", "minted", "minted"]);
  });
});
