import { createPublicClient, createWalletClient, defineChain } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referralRewardsV2Abi } from "../../src/chain/abi.generated.js";
import { DEMO_APPROVER, serviceApprover } from "../../src/chain/approvals.js";
import { deployContracts } from "../../src/chain/deploy.js";
import {
  type EmbeddedChain,
  HARDHAT_ACCOUNT_0,
  HARDHAT_CHAIN_ID,
  startEmbeddedChain,
} from "../../src/chain/embedded.js";
import { orderRefHash } from "../../src/chain/index.js";
import { upgradeToV2 } from "../../src/chain/upgrade.js";

const alice = "0x000000000000000000000000000000000000a11c" as const;

/** The runtime upgrade path (src/chain/upgrade.ts): a live v1 deployment goes to v2, then approvals go on. */
describe("upgrade a v1 deployment to v2, then switch approvals on", () => {
  let embedded: EmbeddedChain;
  const chain = defineChain({
    id: HARDHAT_CHAIN_ID,
    name: "upgrade",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["http://127.0.0.1/embedded"] } },
  });
  const account = privateKeyToAccount(HARDHAT_ACCOUNT_0.privateKey);
  let clients: {
    publicClient: ReturnType<typeof createPublicClient>;
    walletClient: ReturnType<typeof createWalletClient>;
  };

  beforeAll(async () => {
    embedded = await startEmbeddedChain();
    clients = {
      publicClient: createPublicClient({ chain, transport: embedded.transport, pollingInterval: 20 }),
      walletClient: createWalletClient({
        account,
        chain,
        transport: embedded.transport,
        pollingInterval: 20,
      }),
    };
  });
  afterAll(async () => {
    await embedded?.close();
  });

  it("keeps paidOrders and v1 behaviour until enabled; then only approved batches pay", async () => {
    const { publicClient, walletClient } = clients as never as Parameters<typeof deployContracts>[0];
    const v1 = await deployContracts({
      walletClient,
      publicClient,
      admin: account.address,
      operator: account.address,
      periodCap: 0n,
      periodLength: 86_400,
      maxPayout: 0n,
    });
    const proxy = v1.referralRewards;
    const send = async (functionName: "payReferralBatch", ref: string, batchId: bigint) => {
      const hash = await walletClient.writeContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName,
        args: [[{ orderRef: orderRefHash(ref), to: alice, amount: 5n }], batchId],
        gas: 300_000n,
      });
      return (await publicClient.waitForTransactionReceipt({ hash })).status;
    };
    const paidWord = (ref: string) =>
      publicClient.readContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "paidOrders",
        args: [orderRefHash(ref)],
      });

    expect(await send("payReferralBatch", "ORD-up-1", 1n)).toBe("success");
    const before = await paidWord("ORD-up-1");

    await upgradeToV2({ walletClient, publicClient, proxy, approvers: [DEMO_APPROVER.address] });
    expect(await paidWord("ORD-up-1")).toBe(before);
    expect(
      await publicClient.readContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "approvalsRequired",
      }),
    ).toBe(false);
    // Upgraded, not yet enabled: the v1 minter keeps working.
    expect(await send("payReferralBatch", "ORD-up-2", 2n)).toBe("success");

    const enable = await walletClient.writeContract({
      address: proxy,
      abi: referralRewardsV2Abi,
      functionName: "setApprovalsRequired",
      args: [true],
    });
    await publicClient.waitForTransactionReceipt({ hash: enable });
    expect(await send("payReferralBatch", "ORD-up-3", 3n)).toBe("reverted");
    expect(await paidWord("ORD-up-3")).toBe(0n);

    const approver = serviceApprover(privateKeyToAccount(DEMO_APPROVER.privateKey), HARDHAT_CHAIN_ID, proxy);
    const payouts = [{ orderRef: orderRefHash("ORD-up-3"), to: alice, amount: 5n }];
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
    const approval = await approver.approve({ payouts, batchId: 4n, deadline });
    const hash = await walletClient.writeContract({
      address: proxy,
      abi: referralRewardsV2Abi,
      functionName: "payReferralBatchApproved",
      args: [payouts, 4n, deadline, approval.approver, approval.signature],
    });
    expect((await publicClient.waitForTransactionReceipt({ hash })).status).toBe("success");
    expect(await paidWord("ORD-up-3")).not.toBe(0n);
  });
});
