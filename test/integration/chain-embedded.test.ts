import { BaseError, ContractFunctionRevertedError, encodeFunctionData, parseEventLogs } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Chain, connectChain, orderRefHash, referralRewardsAbi } from "../../src/chain/index.js";

const alice = "0x000000000000000000000000000000000000a11c" as const;
const bob = "0x0000000000000000000000000000000000000b0b" as const;

describe("embedded chain (in-process Hardhat)", () => {
  let chain: Chain;

  beforeAll(async () => {
    const started = performance.now();
    // These tests call v1's entry points directly: v2 with approvals off (v1 behaviour).
    chain = await connectChain({ confirmations: 1, approvals: { required: false } });
    console.info(
      `embedded chain up with contracts deployed in ${Math.round(performance.now() - started)} ms`,
    );
  });
  afterAll(async () => {
    await chain?.close();
  });

  it("boots with the contracts deployed and the operator holding OPERATOR_ROLE", async () => {
    expect(chain.mode).toBe("embedded");
    expect(chain.chainId).toBe(31337);
    expect(await chain.publicClient.getChainId()).toBe(31337);
    const address = chain.addresses.referralRewards;
    const role = await chain.publicClient.readContract({
      address,
      abi: referralRewardsAbi,
      functionName: "OPERATOR_ROLE",
    });
    expect(
      await chain.publicClient.readContract({
        address,
        abi: referralRewardsAbi,
        functionName: "hasRole",
        args: [role, chain.operator],
      }),
    ).toBe(true);
    expect(
      await chain.publicClient.readContract({ address, abi: referralRewardsAbi, functionName: "token" }),
    ).toBe(chain.addresses.rewardToken);
  });

  it("pays a batch signed locally, and paidOrders then records its block and batch id", async () => {
    const address = chain.addresses.referralRewards;
    const payouts = [
      { orderRef: orderRefHash("ORD-embedded-1"), to: alice, amount: 10n ** 18n },
      { orderRef: orderRefHash("ORD-embedded-2"), to: alice, amount: 2n * 10n ** 18n },
      { orderRef: orderRefHash("ORD-embedded-3"), to: bob, amount: 3n * 10n ** 18n },
    ];
    const { result } = await chain.publicClient.simulateContract({
      address,
      abi: referralRewardsAbi,
      functionName: "payReferralBatch",
      args: [payouts, 1n],
      account: chain.walletClient.account,
    });
    expect(result).toEqual([3n, 6n * 10n ** 18n]);
    // As the minter does: sign first (the raw tx can be persisted), then broadcast.
    const prepared = await chain.walletClient.prepareTransactionRequest({
      to: address,
      data: encodeFunctionData({
        abi: referralRewardsAbi,
        functionName: "payReferralBatch",
        args: [payouts, 1n],
      }),
      gas: 1_000_000n,
    });
    const raw = await chain.walletClient.signTransaction(prepared);
    const hash = await chain.publicClient.sendRawTransaction({ serializedTransaction: raw });
    const receipt = await chain.publicClient.waitForTransactionReceipt({
      hash,
      confirmations: chain.confirmations,
    });
    expect(receipt.status).toBe("success");

    const paid = parseEventLogs({ abi: referralRewardsAbi, logs: receipt.logs, eventName: "ReferralPaid" });
    expect(paid.map((log) => log.args.orderRef)).toEqual(payouts.map((p) => p.orderRef));

    const word = await chain.publicClient.readContract({
      address,
      abi: referralRewardsAbi,
      functionName: "paidOrders",
      args: [payouts[0]!.orderRef],
    });
    const [isPaid, batchId, blockNumber] = await chain.publicClient.readContract({
      address,
      abi: referralRewardsAbi,
      functionName: "decodePaid",
      args: [word],
    });
    expect({ isPaid, batchId, blockNumber }).toEqual({
      isPaid: true,
      batchId: 1n,
      blockNumber: receipt.blockNumber,
    });
  });

  it("surfaces reverts as the contract's custom errors (what the minter bisects on)", async () => {
    const error = await chain.publicClient
      .simulateContract({
        address: chain.addresses.referralRewards,
        abi: referralRewardsAbi,
        functionName: "payReferral",
        args: [orderRefHash("ORD-embedded-1"), alice, 1n],
        account: chain.operator,
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BaseError);
    const revert = (error as BaseError).walk((e) => e instanceof ContractFunctionRevertedError);
    expect(revert).toBeInstanceOf(ContractFunctionRevertedError);
    expect((revert as ContractFunctionRevertedError).data?.errorName).toBe("AlreadyPaid");
  });

  it("runs a second embedded chain side by side, independent of the first", async () => {
    const before = await chain.publicClient.getBlockNumber();
    const second = await connectChain({ confirmations: 1, approvals: { required: false } });
    try {
      expect(await second.publicClient.getBlockNumber()).toBeLessThan(before);
      const word = await second.publicClient.readContract({
        address: second.addresses.referralRewards,
        abi: referralRewardsAbi,
        functionName: "paidOrders",
        args: [orderRefHash("ORD-embedded-1")],
      });
      expect(word).toBe(0n);
    } finally {
      await second.close();
    }
    expect(await chain.publicClient.getBlockNumber()).toBe(before);
  });

  it("mines a reverting transaction with status reverted, like a real node, instead of throwing", async () => {
    const hash = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsAbi,
      functionName: "payReferral",
      args: [orderRefHash("ORD-embedded-1"), alice, 1n],
      gas: 200_000n,
    });
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).toBe("reverted");
  });
});
