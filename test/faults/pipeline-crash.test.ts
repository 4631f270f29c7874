import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CRASH_POINTS, type CrashPoint } from "../../src/jobs/minter.js";
import { useFaultNetwork } from "../support/fault-network.js";
import {
  checkInvariants,
  hardhatKey,
  jsonRpc,
  runWorker,
  type Schema,
  type SeededReward,
  seedRewards,
  statusCounts,
} from "./support.js";

/**
 * kill -9 of a PIPELINED minter (MINT_PIPELINE_DEPTH=3, MINT_BATCH_SIZE=3, 15 rewards = 5 batches) at
 * every crash point, the third time the point is reached (MINTER_CRASH_NTH=3), so that batches with
 * consecutive nonces are in flight when it dies. The node mines a block every 500 ms with automine
 * off: sent transactions wait in its pool together. A clean worker restarts, recovers every batch
 * (resent in nonce order) and drains the queue. After each run: no reward paid twice on chain, none
 * unpaid, rows agree with the logs, balances with the rewards, and the ledger booked each reward's
 * `reward.minted` exactly once (one balanced journal transaction per reward).
 */
const RUNS = Number(process.env.FAULT_PIPELINE_RUNS ?? 3);
const REWARDS_PER_RUN = 15;

interface Row {
  point: CrashPoint;
  runs: number;
  crashed: number;
  maxInFlight: number;
  doublePaid: number;
  unpaid: number;
  mismatched: number;
  balanceMismatch: number;
  bookedTwice: number;
  ms: number;
}
const table: Row[] = [];

/** Rewards whose reward.minted journal transaction is missing or repeated, and the journal's balance. */
async function journalOf(schema: Schema, rewards: SeededReward[]) {
  const rows = await sql<{ order_reference: string; txns: string; total: string }>`
    SELECT order_reference, count(DISTINCT txn_id)::text AS txns, sum(amount)::text AS total
      FROM journal_entries
     WHERE event = 'reward.minted'
       AND order_reference IN (${sql.join(rewards.map((reward) => reward.orderReference))})
     GROUP BY order_reference`.execute(schema.db);
  const booked = new Map(rows.rows.map((row) => [row.order_reference, row]));
  let wrong = 0;
  for (const reward of rewards) {
    const row = booked.get(reward.orderReference);
    // One transaction per reward, balanced (liability → minted supply sum to zero).
    if (row?.txns !== "1" || row.total !== "0") wrong++;
  }
  return wrong;
}

describe.concurrent("pipelined minter: kill -9 with batches in flight (hardhat node over HTTP, Postgres)", () => {
  const network = useFaultNetwork(
    "pipeline",
    CRASH_POINTS.map((_, index) => index + 1),
  );
  beforeAll(async () => {
    await jsonRpc(network.node.rpcUrl, "evm_setAutomine", [false]);
    await jsonRpc(network.node.rpcUrl, "evm_setIntervalMining", [500]);
  });

  afterAll(async () => {
    if (table.length) {
      const lines = [
        "| crash point (3rd time) | runs | crashed | most in flight at the kill | double-paid | unpaid | row≠log | balance≠Σ | journal≠1 | time |",
        "|---|---|---|---|---|---|---|---|---|---|",
        ...[...table]
          .sort((a, b) => CRASH_POINTS.indexOf(a.point) - CRASH_POINTS.indexOf(b.point))
          .map(
            (row) =>
              `| ${row.point} | ${row.runs} | ${row.crashed} | ${row.maxInFlight} | ${row.doublePaid} | ${row.unpaid} | ${row.mismatched} | ${row.balanceMismatch} | ${row.bookedTwice} | ${(row.ms / 1000).toFixed(0)} s |`,
          ),
      ];
      console.log(`\nPipelined crash table (${REWARDS_PER_RUN} rewards per run)\n${lines.join("\n")}\n`);
    }
  });

  for (const [index, point] of CRASH_POINTS.entries()) {
    it(`pays every reward exactly once after kill -9 at the 3rd ${point} with batches in flight (${RUNS} runs)`, async () => {
      const started = Date.now();
      const schema = await network.openSchema(`pipe_${point}`);
      const env = {
        rpcUrl: network.node.rpcUrl,
        schema: schema.name,
        deploymentsFile: network.deploymentsFile,
        operatorKey: hardhatKey(index + 1).privateKey,
        confirmations: 2,
        extra: { MINT_BATCH_SIZE: "3", MINT_PIPELINE_DEPTH: "3", MINTER_CRASH_NTH: "3" },
      };
      const row: Row = {
        point,
        runs: 0,
        crashed: 0,
        maxInFlight: 0,
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
        bookedTwice: 0,
        ms: 0,
      };
      for (let run = 0; run < RUNS; run++) {
        const rewards = await seedRewards(schema.db, REWARDS_PER_RUN, `p_${point.replace(/-/g, "_")}_${run}`);
        const crashing = await runWorker(env, { crashAt: point });
        if (crashing.signal === "SIGKILL") row.crashed++;
        else
          expect.fail(`worker did not crash at ${point}: ${crashing.code} ${crashing.stderr.slice(-2000)}`);
        const open = await schema.db
          .selectFrom("mint_batches")
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .where("status", "in", ["claimed", "signed"])
          .executeTakeFirstOrThrow();
        row.maxInFlight = Math.max(row.maxInFlight, Number(open.n));
        const clean = await runWorker(env);
        if (clean.code !== 0) {
          expect.fail(
            `clean worker exited ${clean.code} after a crash at ${point}: ${clean.stderr.slice(-2000)}\n${clean.stdout.slice(-2000)}\n${JSON.stringify(await statusCounts(schema.db))}`,
          );
        }
        const found = await checkInvariants(schema.db, network.chain, rewards);
        row.runs++;
        row.doublePaid += found.doublePaid;
        row.unpaid += found.unpaid;
        row.mismatched += found.mismatched;
        row.balanceMismatch += found.balanceMismatch;
        row.bookedTwice += await journalOf(schema, rewards);
      }
      // Consecutive nonces per operator: the batches' transactions never share or skip one.
      const nonces = await schema.db
        .selectFrom("mint_batches")
        .select("nonce")
        .where("status", "=", "confirmed")
        .orderBy("nonce")
        .execute();
      const list = nonces.map((batch) => Number(batch.nonce));
      expect(new Set(list).size, "no two confirmed batches share a nonce").toBe(list.length);
      row.ms = Date.now() - started;
      table.push(row);
      expect(row).toMatchObject({
        runs: RUNS,
        crashed: RUNS,
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
        bookedTwice: 0,
      });
      expect(row.maxInFlight, "several batches were in flight when it was killed").toBeGreaterThanOrEqual(2);
    });
  }
});
