import { afterAll, describe, expect, it } from "vitest";
import { CRASH_POINTS } from "../../src/jobs/minter.js";
import { useFaultNetwork } from "../support/fault-network.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import {
  checkInvariants,
  hardhatKey,
  type Invariants,
  runWorker,
  seedRewards,
  statusCounts,
} from "./support.js";

/**
 * The minter (a child process) talks to the hardhat node through a proxy that injects 5xx answers,
 * lost responses (the node acted, the answer never came back), slow answers, dropped
 * eth_sendRawTransaction (answered with the hash, never forwarded) and fake "nonce too low". Every
 * round must still pay each reward exactly once and leave none unpaid.
 */
const ROUNDS = Number(process.env.FAULT_RPC_ROUNDS ?? 10);
const REWARDS_PER_ROUND = 8;
const RATES = { http5xx: 0.1, lostResponse: 0.05, delay: 0.05, dropSend: 0.35, nonceTooLow: 0.25 };

describe.concurrent("minter under RPC faults (fault-injecting proxy, hardhat node over HTTP, Postgres)", () => {
  const network = useFaultNetwork("rpc", [1, 2]);
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
  });

  const total = (): Invariants => ({ doublePaid: 0, unpaid: 0, mismatched: 0, balanceMismatch: 0 });
  const add = (sum: Invariants, found: Invariants) => {
    for (const key of Object.keys(sum) as (keyof Invariants)[]) sum[key] += found[key];
  };

  it(`pays every reward exactly once through 5xx, lost responses, dropped sends and "nonce too low" (${ROUNDS} rounds)`, async () => {
    const schema = await network.openSchema("rpc");
    const proxy = await startFaultProxy(network.node.rpcUrl, {
      rates: RATES,
      seed: 42,
      delayMs: 400,
      firstSends: ["dropSend", "dropSend", "nonceTooLow", "dropSend", "nonceTooLow"],
    });
    proxies.push(proxy);
    const env = {
      rpcUrl: proxy.url,
      schema: schema.name,
      deploymentsFile: network.deploymentsFile,
      operatorKey: hardhatKey(1).privateKey,
    };
    const sum = total();
    const started = Date.now();
    for (let round = 0; round < ROUNDS; round++) {
      const rewards = await seedRewards(schema.db, REWARDS_PER_ROUND, `rpc_${round}`);
      const worker = await runWorker(env);
      if (worker.code !== 0) {
        expect.fail(
          `worker exited ${worker.code}: ${worker.stderr.slice(-3000)}\n${JSON.stringify(await statusCounts(schema.db))}`,
        );
      }
      add(sum, await checkInvariants(schema.db, network.chain, rewards));
    }
    const counts = { ...proxy.counts };
    console.log(
      `\nRPC faults: ${ROUNDS} rounds × ${REWARDS_PER_ROUND} rewards in ${((Date.now() - started) / 1000).toFixed(0)} s; injected ${JSON.stringify(counts)}; result ${JSON.stringify(sum)}\n`,
    );
    expect(sum).toEqual(total());
    for (const fault of ["http5xx", "lostResponse", "delay", "dropSend", "nonceTooLow"] as const) {
      expect(counts[fault], `${fault} injected`).toBeGreaterThan(0);
    }
  });

  it(`pays every reward exactly once with RPC faults AND kill -9 at a rotating crash point (${ROUNDS} rounds)`, async () => {
    const schema = await network.openSchema("rpc_crash");
    const proxy = await startFaultProxy(network.node.rpcUrl, { rates: RATES, seed: 7, delayMs: 400 });
    proxies.push(proxy);
    const env = {
      rpcUrl: proxy.url,
      schema: schema.name,
      deploymentsFile: network.deploymentsFile,
      operatorKey: hardhatKey(2).privateKey,
    };
    const sum = total();
    let crashed = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const rewards = await seedRewards(schema.db, REWARDS_PER_ROUND, `rpc_crash_${round}`);
      const point = CRASH_POINTS[round % CRASH_POINTS.length];
      const crashing = await runWorker(env, { crashAt: point });
      if (crashing.signal === "SIGKILL") crashed++;
      const clean = await runWorker(env);
      if (clean.code !== 0) {
        expect.fail(
          `worker exited ${clean.code} after ${point}: ${clean.stderr.slice(-3000)}\n${JSON.stringify(await statusCounts(schema.db))}`,
        );
      }
      add(sum, await checkInvariants(schema.db, network.chain, rewards));
    }
    console.log(
      `\nRPC faults + crashes: ${crashed}/${ROUNDS} crashed; injected ${JSON.stringify(proxy.counts)}; result ${JSON.stringify(sum)}\n`,
    );
    expect(sum).toEqual(total());
    // A point may be passed by before the process reaches it (e.g. no receipt yet when the proxy drops the send).
    expect(crashed).toBeGreaterThanOrEqual(
      Math.floor((ROUNDS * (CRASH_POINTS.length - 1)) / CRASH_POINTS.length),
    );
  });
});
