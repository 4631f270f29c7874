import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referralRewardsV2Abi } from "../../src/chain/abi.generated.js";
import { CRASH_POINTS, type CrashPoint } from "../../src/jobs/minter.js";
import { useFaultNetwork } from "../support/fault-network.js";
import { checkInvariants, hardhatKey, jsonRpc, runWorker, seedRewards, statusCounts } from "./support.js";

/**
 * kill -9 at every crash point of the minter, RUNS times each: a worker process (MINTER_CRASH_AT) is
 * SIGKILLed at the point, then a clean worker with a 1 s lease restarts, recovers and finishes. After
 * every run: no reward paid twice on-chain, none left unpaid, rows agree with the ReferralPaid logs.
 * One hardhat node for the file (interval mining, so CHAIN_CONFIRMATIONS=2 has a real wait); one
 * schema and one operator key per crash point, so the points run side by side.
 */
const RUNS = Number(process.env.FAULT_RUNS ?? 20);
const REWARDS_PER_RUN = 5;

interface Row {
  point: CrashPoint;
  runs: number;
  crashed: number;
  doublePaid: number;
  unpaid: number;
  mismatched: number;
  balanceMismatch: number;
  ms: number;
}
const table: Row[] = [];

describe.concurrent("minter crash points (kill -9, hardhat node over HTTP, Postgres)", () => {
  const network = useFaultNetwork(
    "crash",
    CRASH_POINTS.map((_, index) => index + 1),
  );
  beforeAll(async () => {
    // Automine stays on; a block every 300 ms gives a transaction its second confirmation.
    await jsonRpc(network.node.rpcUrl, "evm_setIntervalMining", [300]);
    // Issue 15: the node's contract is ReferralRewardsV2 with approvals on, so every payout below went
    // through an approver's signature (the operator alone cannot mint) and exactly-once still holds.
    const required = await network.chain.publicClient.readContract({
      address: network.chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: "approvalsRequired",
    });
    expect(required).toBe(true);
    expect(network.chain.approver).toBeDefined();
  });

  afterAll(async () => {
    if (table.length) {
      const lines = [
        "| crash point | runs | crashed | double-paid | unpaid | row≠log | balance≠Σ | time |",
        "|---|---|---|---|---|---|---|---|",
        ...[...table]
          .sort((a, b) => CRASH_POINTS.indexOf(a.point) - CRASH_POINTS.indexOf(b.point))
          .map(
            (row) =>
              `| ${row.point} | ${row.runs} | ${row.crashed} | ${row.doublePaid} | ${row.unpaid} | ${row.mismatched} | ${row.balanceMismatch} | ${(row.ms / 1000).toFixed(0)} s |`,
          ),
      ];
      console.log(`\nCrash-point table (${REWARDS_PER_RUN} rewards per run)\n${lines.join("\n")}\n`);
    }
  });

  for (const [index, point] of CRASH_POINTS.entries()) {
    it(`pays every reward exactly once after kill -9 at ${point} (${RUNS} runs)`, async () => {
      const started = Date.now();
      const schema = await network.openSchema(point);
      const env = {
        rpcUrl: network.node.rpcUrl,
        schema: schema.name,
        deploymentsFile: network.deploymentsFile,
        operatorKey: hardhatKey(index + 1).privateKey,
        confirmations: 2,
      };
      const row: Row = {
        point,
        runs: 0,
        crashed: 0,
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
        ms: 0,
      };
      for (let run = 0; run < RUNS; run++) {
        const rewards = await seedRewards(schema.db, REWARDS_PER_RUN, `${point.replace(/-/g, "_")}_${run}`);
        const crashing = await runWorker(env, { crashAt: point });
        if (crashing.signal === "SIGKILL") row.crashed++;
        else
          expect.fail(`worker did not crash at ${point}: ${crashing.code} ${crashing.stderr.slice(-2000)}`);
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
      }
      row.ms = Date.now() - started;
      table.push(row);
      expect(row).toMatchObject({
        runs: RUNS,
        crashed: RUNS,
        doublePaid: 0,
        unpaid: 0,
        mismatched: 0,
        balanceMismatch: 0,
      });
    });
  }
});
