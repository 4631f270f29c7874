import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseEventLogs } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Chain,
  connectChain,
  HARDHAT_ACCOUNT_0,
  orderRefHash,
  readDeployment,
  referralRewardsAbi,
} from "../../src/chain/index.js";

const ROOT = path.resolve(__dirname, "../..");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Polls eth_chainId until the node answers, failing early if it exits. */
async function waitForNode(rpcUrl: string, node: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (node.exitCode !== null) throw new Error(`hardhat node exited (${node.exitCode}):\n${output()}`);
    try {
      const response = await fetch(rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`hardhat node did not answer at ${rpcUrl} within 90 s:\n${output()}`);
}

describe("RPC chain (npx hardhat node)", () => {
  let node: ChildProcess | undefined;
  let rpcUrl: string;
  let workDir: string;
  let deploymentsFile: string;
  let chain: Chain;

  beforeAll(async () => {
    const port = await freePort();
    rpcUrl = `http://127.0.0.1:${port}`;
    workDir = mkdtempSync(path.join(tmpdir(), "twinrail-chain-rpc-"));
    deploymentsFile = path.join(workDir, "deployments", "31337.json");
    let output = "";
    // Own process group, so the node (a grandchild behind npx) is stopped with its parent.
    node = spawn("npx", ["hardhat", "node", "--port", String(port), "--hostname", "127.0.0.1"], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    node.stdout?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    node.stderr?.on("data", (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    });
    await waitForNode(rpcUrl, node, () => output);

    chain = await connectChain({
      rpcUrl,
      chainId: 31337,
      operatorPrivateKey: HARDHAT_ACCOUNT_0.privateKey,
      deploymentsFile,
      confirmations: 1,
      // These tests call v1's entry points directly: deploy v2 with approvals off (v1 behaviour).
      approvals: { required: false },
    });
  }, 120_000);

  afterAll(async () => {
    await chain?.close();
    if (node?.pid !== undefined && node.exitCode === null) {
      const exited = new Promise((resolve) => node?.once("exit", resolve));
      process.kill(-node.pid, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("deploys on a fresh local dev chain and writes the deployments file", () => {
    expect(chain.mode).toBe("rpc");
    expect(chain.chainId).toBe(31337);
    const written = readDeployment(deploymentsFile);
    expect(written).toMatchObject({
      chainId: 31337,
      rewardToken: chain.addresses.rewardToken,
      referralRewards: chain.addresses.referralRewards,
      deployBlock: Number(chain.deployBlock),
      admin: HARDHAT_ACCOUNT_0.address,
      operator: HARDHAT_ACCOUNT_0.address,
    });
    expect(JSON.parse(readFileSync(deploymentsFile, "utf8"))).toHaveProperty("referralRewards");
  });

  it("pays a referral batch and reads paidOrders back", async () => {
    const address = chain.addresses.referralRewards;
    const payouts = [
      {
        orderRef: orderRefHash("ORD-rpc-1"),
        to: "0x000000000000000000000000000000000000a11c" as const,
        amount: 5n,
      },
      {
        orderRef: orderRefHash("ORD-rpc-2"),
        to: "0x000000000000000000000000000000000000a11c" as const,
        amount: 7n,
      },
    ];
    const hash = await chain.walletClient.writeContract({
      address,
      abi: referralRewardsAbi,
      functionName: "payReferralBatch",
      args: [payouts, 9n],
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({
      hash,
      confirmations: chain.confirmations,
    });
    expect(receipt.status).toBe("success");
    expect(
      parseEventLogs({ abi: referralRewardsAbi, logs: receipt.logs, eventName: "ReferralPaid" }),
    ).toHaveLength(2);

    for (const payout of payouts) {
      const word = await chain.publicClient.readContract({
        address,
        abi: referralRewardsAbi,
        functionName: "paidOrders",
        args: [payout.orderRef],
      });
      const [paid, batchId, blockNumber] = await chain.publicClient.readContract({
        address,
        abi: referralRewardsAbi,
        functionName: "decodePaid",
        args: [word],
      });
      expect({ paid, batchId, blockNumber }).toEqual({
        paid: true,
        batchId: 9n,
        blockNumber: receipt.blockNumber,
      });
    }
  });

  it("reuses the deployments file on the next connect instead of deploying again", async () => {
    const again = await connectChain({ rpcUrl, chainId: 31337, deploymentsFile, confirmations: 1 });
    expect(again.addresses).toEqual(chain.addresses);
    expect(again.deployBlock).toBe(chain.deployBlock);
    await again.close();
  });

  it("refuses a chain id that does not match the node", async () => {
    await expect(connectChain({ rpcUrl, chainId: 1, deploymentsFile, confirmations: 1 })).rejects.toThrow(
      /serves chain id 31337/,
    );
  });
});
