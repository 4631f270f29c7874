import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { type Abi, getAddress, type Hex, parseEventLogs } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referralRewardsV2Abi } from "../../src/chain/abi.generated.js";
import { DEMO_APPROVER, orderRefHash } from "../../src/chain/index.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

interface TypedDataJson {
  domain: { name: string; version: string; chainId: number; verifyingContract: `0x${string}` };
  types: Record<string, { name: string; type: string }[]>;
  primaryType: "PayoutBatch";
  message: {
    payouts: { orderRef: `0x${string}`; to: `0x${string}`; amount: string }[];
    batchId: string;
    deadline: string;
  };
}

/** What a wallet does with the JSON of eth_signTypedData_v4: the same typed data, uints as numbers. */
function signable(typed: TypedDataJson, change: { deadline?: bigint } = {}) {
  const { EIP712Domain: _domain, ...types } = typed.types;
  return {
    domain: typed.domain,
    types: types as {
      PayoutBatch: { name: string; type: string }[];
      Payout: { name: string; type: string }[];
    },
    primaryType: typed.primaryType,
    message: {
      payouts: typed.message.payouts.map((payout) => ({ ...payout, amount: BigInt(payout.amount) })),
      batchId: BigInt(typed.message.batchId),
      deadline: change.deadline ?? BigInt(typed.message.deadline),
    },
  };
}

/**
 * Issue 15, wallet mode (APPROVER_KEYS_MODE=wallet) on the embedded chain: the service holds no approver
 * key; the minter sizes a batch and leaves it awaiting approval with its typed data (nothing broadcast);
 * the API refuses signatures not by an APPROVER_ROLE holder over exactly that batch, stores the
 * approver's (viem signTypedData with the Hardhat approver key stands in for the admin's wallet), and the
 * next mint pass pays each reward exactly once.
 */
describe(`wallet-mode approvals on the embedded chain (${TEST_DB})`, () => {
  let t: TestInstance;
  const approver = privateKeyToAccount(DEMO_APPROVER.privateKey);

  beforeAll(async () => {
    t = await startTestInstance({ APPROVER_KEYS_MODE: "wallet" });
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function approvedReward(ref: string) {
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    expect((await t.webhook(paidEvent(ref, "170000"))).status).toBe(200);
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    const approve = await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [reward.id.toString()] },
    });
    expect(approve.body.approved).toContain(reward.id.toString());
    return reward;
  }

  const batchRow = (id: bigint) =>
    t.services.db.selectFrom("mint_batches").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  const rewardRow = (id: bigint) =>
    t.services.db.selectFrom("referral_rewards").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
  const operatorNonce = () =>
    t.services.chain.publicClient.getTransactionCount({
      address: t.services.chain.operator,
      blockTag: "pending",
    });
  const mint = () => t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
  const awaiting = async () => {
    const res = await t.request("GET", "/v1/admin/mint-batches/awaiting-approval", { key: t.keys.admin });
    expect(res.status).toBe(200);
    return res.body.items as { id: string; status: string; typedData: TypedDataJson }[];
  };
  const postApproval = (id: string, body: Record<string, unknown>) =>
    t.request("POST", `/v1/admin/mint-batches/${id}/approval`, { key: t.keys.admin, body });

  it("wallet mode holds no approver key; approvals are on", () => {
    expect(t.services.chain.contractVersion).toBe(2);
    expect(t.services.chain.approver).toBeUndefined();
  });

  it("approve → a mint pass leaves the batch awaiting approval; bad signatures are refused; the approver's mints each once", async () => {
    const { chain } = t.services;
    const rewards = [await approvedReward("ORD-wallet-1"), await approvedReward("ORD-wallet-2")];
    const nonceBefore = await operatorNonce();

    const pass = await mint();
    expect(pass.status).toBe(200);
    expect(pass.body).toMatchObject({ status: "waiting", error: "awaiting_approval", minted: 0 });
    const batchId = BigInt(pass.body.batchId);
    expect((await batchRow(batchId)).status).toBe("awaiting_approval");
    for (const reward of rewards) expect((await rewardRow(reward.id)).status).toBe("minting");
    // Nothing signed, nothing broadcast.
    expect(await operatorNonce()).toBe(nonceBefore);
    const txs = await t.services.db
      .selectFrom("mint_batch_txs")
      .selectAll()
      .where("batch_id", "=", batchId)
      .execute();
    expect(txs).toEqual([]);
    // Another pass waits for the signature; it neither sends nor claims a second batch.
    expect((await mint()).body).toMatchObject({ status: "waiting", batchId: batchId.toString() });

    const [item] = await awaiting();
    expect(item).toMatchObject({ id: batchId.toString(), status: "awaiting_approval" });
    const typed = item!.typedData;
    expect(typed.primaryType).toBe("PayoutBatch");
    expect(typed.domain).toMatchObject({
      chainId: chain.chainId,
      verifyingContract: chain.addresses.referralRewards,
    });
    expect(typed.message.batchId).toBe(batchId.toString());
    expect(typed.message.payouts.map((payout) => payout.orderRef).sort()).toEqual(
      [orderRefHash("ORD-wallet-1"), orderRefHash("ORD-wallet-2")].sort(),
    );
    for (const payout of typed.message.payouts) expect(payout.amount).toMatch(/^\d+$/);
    // JSON-safe as served: a wallet takes it as it is.
    expect(JSON.parse(JSON.stringify(typed))).toEqual(typed);

    const before = await batchRow(batchId);
    // A stranger's signature over the right batch: not an approver.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const foreign = await postApproval(batchId.toString(), {
      signature: await stranger.signTypedData(signable(typed)),
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("content-type")).toMatch(/problem\+json/);
    // The approver's signature over another deadline: recovers to someone else.
    const altered = await postApproval(batchId.toString(), {
      signature: await approver.signTypedData(
        signable(typed, { deadline: BigInt(typed.message.deadline) + 1n }),
      ),
    });
    expect(altered.status).toBeGreaterThanOrEqual(400);
    expect(altered.status).toBeLessThan(500);
    // Claiming to be the approver with a stranger's signature: refused by verifyTypedData.
    const claimed = await postApproval(batchId.toString(), {
      signature: await stranger.signTypedData(signable(typed)),
      approver: approver.address,
    });
    expect(claimed.status).toBe(422);
    // Garbage.
    expect((await postApproval(batchId.toString(), { signature: "0x1234" })).status).toBe(422);
    expect((await postApproval(batchId.toString(), { signature: "nope" })).status).toBe(400);
    expect(await batchRow(batchId)).toEqual(before);
    expect(await operatorNonce()).toBe(nonceBefore);

    // The approver's wallet signs exactly the typed data served; posted twice at once.
    const signature = await approver.signTypedData(signable(typed));
    const both = await Promise.all([
      postApproval(batchId.toString(), { signature }),
      postApproval(batchId.toString(), { signature }),
    ]);
    expect(both.map((res) => res.status)).toEqual([200, 200]);
    expect(both.map((res) => res.body.unchanged).sort()).toEqual([false, true]);
    const stored = await batchRow(batchId);
    expect(stored).toMatchObject({
      status: "approval_signed",
      approval_signature: signature.toLowerCase(),
      approval_approver: approver.address,
    });
    // A second POST of the same signature changes nothing.
    const again = await postApproval(batchId.toString(), { signature });
    expect(again.body).toMatchObject({ status: "approval_signed", unchanged: true });
    expect(await batchRow(batchId)).toEqual(stored);

    // The next pass sends exactly the signed batch.
    const sent = await mint();
    expect(sent.body).toMatchObject({ status: "confirmed", minted: 2, batchId: batchId.toString() });
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: sent.body.txHash });
    const approved = parseEventLogs({
      abi: referralRewardsV2Abi,
      logs: receipt.logs,
      eventName: "BatchApproved",
    });
    expect(approved.map((log) => [log.args.batchId, log.args.approver])).toEqual([
      [batchId, approver.address],
    ]);
    for (const reward of rewards) expect((await rewardRow(reward.id)).status).toBe("minted");

    // Exactly once: nothing further to mint, the same signature again changes nothing.
    expect((await mint()).body).toMatchObject({ status: "empty" });
    const done = await batchRow(batchId);
    expect((await postApproval(batchId.toString(), { signature })).body).toMatchObject({
      status: "confirmed",
      unchanged: true,
    });
    expect(await batchRow(batchId)).toEqual(done);
    const logs = await chain.publicClient.getContractEvents({
      address: chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      eventName: "ReferralPaid",
      fromBlock: 0n,
    });
    for (const ref of ["ORD-wallet-1", "ORD-wallet-2"]) {
      expect(logs.filter((log) => log.args.orderRef === orderRefHash(ref))).toHaveLength(1);
    }
    expect(await awaiting()).toEqual([]);
  });

  it("an expired approval deadline releases the batch; the minter re-sizes it and it can be signed again", async () => {
    const reward = await approvedReward("ORD-wallet-expired");
    const first = await mint();
    expect(first.body).toMatchObject({ status: "waiting", error: "awaiting_approval" });
    const batchId = BigInt(first.body.batchId);
    const [item] = await awaiting();
    const signature = await approver.signTypedData(signable(item!.typedData));
    // The deadline passes before anyone signs.
    const past = BigInt(Math.floor(Date.now() / 1000) - 1);
    await t.services.db
      .updateTable("mint_batches")
      .set({ approval_deadline: past })
      .where("id", "=", batchId)
      .execute();
    expect((await postApproval(batchId.toString(), { signature })).status).toBe(409);
    expect((await batchRow(batchId)).approval_signature).toBeNull();

    const released = await mint();
    expect(released.body).toMatchObject({ status: "released", error: "ApprovalExpired" });
    expect((await batchRow(batchId)).status).toBe("released");
    expect((await rewardRow(reward.id)).status).toBe("approved");

    const resized = await mint();
    expect(resized.body).toMatchObject({ status: "waiting", error: "awaiting_approval" });
    expect(BigInt(resized.body.batchId)).not.toBe(batchId);
    const [next] = await awaiting();
    const ok = await postApproval(next!.id, {
      signature: await approver.signTypedData(signable(next!.typedData)),
    });
    expect(ok.status).toBe(200);
    expect((await mint()).body).toMatchObject({ status: "confirmed", minted: 1 });
    expect((await rewardRow(reward.id)).status).toBe("minted");
  });

  it("an ERC-1271 contract approver (a Safe stand-in) is verified through isValidSignature and mints", async () => {
    const { chain } = t.services;
    const owner = privateKeyToAccount(generatePrivateKey());
    const walletArtifact = approverWalletArtifact();
    const deployHash = await chain.walletClient.deployContract({
      abi: walletArtifact.abi,
      bytecode: walletArtifact.bytecode,
      args: [owner.address],
    });
    const wallet = getAddress(
      (await chain.publicClient.waitForTransactionReceipt({ hash: deployHash })).contractAddress!,
    );
    const role = await chain.publicClient.readContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: "APPROVER_ROLE",
    });
    const grant = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: "grantRole",
      args: [role, wallet],
    });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash: grant })).status).toBe("success");

    const reward = await approvedReward("ORD-wallet-1271");
    const pass = await mint();
    expect(pass.body).toMatchObject({ status: "waiting", error: "awaiting_approval" });
    const [item] = await awaiting();
    const signature = await owner.signTypedData(signable(item!.typedData));
    // Recovered alone, the signature names the owner's EOA, which holds no role.
    expect((await postApproval(item!.id, { signature })).status).toBe(403);
    // Another contract address claimed as approver: isValidSignature is not there, refused.
    expect((await postApproval(item!.id, { signature, approver: chain.addresses.rewardToken })).status).toBe(
      422,
    );
    const ok = await postApproval(item!.id, { signature, approver: wallet });
    expect(ok.body).toMatchObject({ status: "approval_signed", approver: wallet, unchanged: false });

    const sent = await mint();
    expect(sent.body).toMatchObject({ status: "confirmed", minted: 1 });
    const receipt = await chain.publicClient.getTransactionReceipt({ hash: sent.body.txHash });
    const approved = parseEventLogs({
      abi: referralRewardsV2Abi,
      logs: receipt.logs,
      eventName: "BatchApproved",
    });
    expect(approved.map((log) => log.args.approver)).toEqual([wallet]);
    expect((await rewardRow(reward.id)).status).toBe("minted");
  });
});

/** The test-only ERC-1271 wallet (contracts/test/ApproverWallet.sol), compiled by Hardhat when missing. */
function approverWalletArtifact(): { abi: Abi; bytecode: Hex } {
  const root = path.resolve(__dirname, "../..");
  const file = path.join(root, "artifacts/contracts/test/ApproverWallet.sol/ApproverWallet.json");
  if (!existsSync(file)) {
    const built = spawnSync("npx", ["hardhat", "compile", "--quiet"], { cwd: root, timeout: 120_000 });
    if (built.status !== 0) throw new Error(`npx hardhat compile failed: ${built.stderr}`);
  }
  const artifact = JSON.parse(readFileSync(file, "utf8"));
  return { abi: artifact.abi, bytecode: artifact.bytecode };
}
