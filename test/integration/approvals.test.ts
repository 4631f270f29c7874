import { spawnSync } from "node:child_process";
import pino from "pino";
import { parseEventLogs, toFunctionSelector } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { referralRewardsV2Abi, rewardTokenAbi } from "../../src/chain/abi.generated.js";
import { connectChain, DEMO_APPROVER, orderRefHash } from "../../src/chain/index.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createMinter } from "../../src/jobs/minter.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  TEST_DB,
  type TestInstance,
} from "../support/harness.js";

/**
 * Issue 15, end to end on the embedded chain: it is ReferralRewardsV2 with approvals on, the operator key
 * alone cannot mint, and admin approve → mint pays through `payReferralBatchApproved` signed by the
 * service's (demo-only) approver key, a key the operator does not hold.
 */
describe(`approvals on the embedded chain (${TEST_DB})`, () => {
  let t: TestInstance;

  beforeAll(async () => {
    t = await startTestInstance();
    await seedCatalog(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const read = <T>(functionName: string, args: unknown[] = []) =>
    t.services.chain.publicClient.readContract({
      address: t.services.chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: functionName as never,
      args: args as never,
    }) as Promise<T>;

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

  const rewardRow = (id: bigint) =>
    t.services.db.selectFrom("referral_rewards").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

  it("deploys v2 with approvals on; the demo approver holds APPROVER_ROLE and is not the operator", async () => {
    const { chain } = t.services;
    expect(chain.contractVersion).toBe(2);
    expect(await read<boolean>("approvalsRequired")).toBe(true);
    expect(chain.approver?.address).toBe(DEMO_APPROVER.address);
    expect(chain.approver?.address.toLowerCase()).not.toBe(chain.operator.toLowerCase());
    const role = await read<`0x${string}`>("APPROVER_ROLE");
    expect(await read<boolean>("hasRole", [role, DEMO_APPROVER.address])).toBe(true);
    expect(await read<boolean>("hasRole", [role, chain.operator])).toBe(false);
  });

  it("refuses the operator key alone: payReferralBatch reverts ApprovalRequired and mints nothing", async () => {
    const { chain } = t.services;
    const payout = {
      orderRef: orderRefHash("ORD-approvals-operator-only"),
      to: "0x000000000000000000000000000000000000a11c" as const,
      amount: 10n ** 18n,
    };
    const error = await chain.publicClient
      .simulateContract({
        address: chain.addresses.referralRewards,
        abi: referralRewardsV2Abi,
        functionName: "payReferralBatch",
        args: [[payout], 1n],
        account: chain.walletClient.account,
      })
      .catch((caught: unknown) => caught);
    expect(String(error)).toMatch(/ApprovalRequired/);
    const hash = await chain.walletClient.writeContract({
      address: chain.addresses.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: "payReferralBatch",
      args: [[payout], 1n],
      gas: 300_000n,
    });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe("reverted");
    expect(await read<bigint>("paidOrders", [payout.orderRef])).toBe(0n);
  });

  it("admin approve → mint pays through payReferralBatchApproved with the approver's signature", async () => {
    const { chain } = t.services;
    const reward = await approvedReward("ORD-approvals-e2e-1");
    const wallet = reward.wallet_address as `0x${string}`;
    const before = await chain.publicClient.readContract({
      address: chain.addresses.rewardToken,
      abi: rewardTokenAbi,
      functionName: "balanceOf",
      args: [wallet],
    });
    const run = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ status: "confirmed", minted: 1 });
    const row = await rewardRow(reward.id);
    expect(row.status).toBe("minted");

    const txHash = row.tx_hash as `0x${string}`;
    const [tx, receipt] = await Promise.all([
      chain.publicClient.getTransaction({ hash: txHash }),
      chain.publicClient.getTransactionReceipt({ hash: txHash }),
    ]);
    // The call the operator sent: the approved entry point, its approver the demo key.
    const selector = tx.input.slice(0, 10);
    const approvedSelector = toFunctionSelector(
      "payReferralBatchApproved((bytes32,address,uint256)[],uint64,uint64,address,bytes)",
    );
    expect(selector).toBe(approvedSelector);
    const approved = parseEventLogs({
      abi: referralRewardsV2Abi,
      logs: receipt.logs,
      eventName: "BatchApproved",
    });
    expect(approved.map((log) => [log.args.batchId, log.args.approver])).toEqual([
      [row.batch_id, DEMO_APPROVER.address],
    ]);
    const paid = parseEventLogs({ abi: referralRewardsV2Abi, logs: receipt.logs, eventName: "ReferralPaid" });
    expect(paid.map((log) => log.args.orderRef)).toEqual([orderRefHash("ORD-approvals-e2e-1")]);
    const after = await chain.publicClient.readContract({
      address: chain.addresses.rewardToken,
      abi: rewardTokenAbi,
      functionName: "balanceOf",
      args: [wallet],
    });
    expect(after - before).toBe(BigInt(reward.amount_wei));
  });

  it("without an approval source (wallet mode, no signature) the minter mints nothing: the batch awaits approval", async () => {
    const reward = await approvedReward("ORD-approvals-no-approver");
    const minter = createMinter({
      db: t.services.db,
      dbKind: t.services.dbKind,
      chain: { ...t.services.chain, approver: undefined },
      config: { batchSize: 20, leaseSeconds: 5, confirmations: 1, pollMs: 20, retryBaseMs: 10 },
      logger: pino({ level: "silent" }),
    });
    const result = await minter.runOnce({ manual: true });
    // Wallet mode (test/integration/approvals-wallet.test.ts): sized, persisted, nothing broadcast.
    expect(result).toMatchObject({ status: "waiting", minted: 0, error: "awaiting_approval" });
    expect((await rewardRow(reward.id)).status).toBe("minting");
    expect(await read<bigint>("paidOrders", [orderRefHash("ORD-approvals-no-approver")])).toBe(0n);

    // The service's minter (service mode) releases the unsigned batch, re-sizes it and pays it.
    const first = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(first.body).toMatchObject({ status: "released", minted: 0 });
    expect((await rewardRow(reward.id)).status).toBe("approved");
    const run = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(run.body).toMatchObject({ status: "confirmed", minted: 1 });
    expect((await rewardRow(reward.id)).status).toBe("minted");
  });
});

describe("production never holds an approver key", () => {
  const secrets = {
    NODE_ENV: "production",
    WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    MEMBER_TOKEN_SECRET: "m".repeat(32),
    CRON_SECRET: "c".repeat(16),
    COOKIE_SECRET: "k".repeat(32),
    IP_HASH_SECRET: "i".repeat(32),
  };

  it("refuses the configuration: APPROVER_PRIVATE_KEY or APPROVER_KEYS_MODE=service", () => {
    expect(() => loadConfig(secrets)).not.toThrow();
    for (const extra of [
      { APPROVER_PRIVATE_KEY: DEMO_APPROVER.privateKey },
      { APPROVER_KEYS_MODE: "service" },
    ]) {
      const error = (() => {
        try {
          loadConfig({ ...secrets, ...extra });
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(String(error)).toMatch(Object.keys(extra)[0]!);
    }
  });

  it("the minter process exits at start when an approver key is configured in production", () => {
    const result = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/minter-worker.ts", "--until-idle"],
      {
        env: {
          ...process.env,
          ...secrets,
          APPROVER_PRIVATE_KEY: DEMO_APPROVER.privateKey,
          LOG_LEVEL: "silent",
        },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/APPROVER_PRIVATE_KEY: must not be set when NODE_ENV=production/);
  });

  it("the chain refuses service mode in production even with the demo chain's defaults", async () => {
    await expect(connectChain({ confirmations: 1, approvals: { production: true } })).rejects.toThrow(
      /Refusing to start/,
    );
    await expect(
      connectChain({ confirmations: 1, approvals: { production: true, keysMode: "wallet" } }).then((chain) =>
        chain.close().then(() => chain.approver),
      ),
    ).resolves.toBeUndefined();
  });
});
