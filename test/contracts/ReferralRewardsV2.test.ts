// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Contract, Signer } from "ethers";
import { ethers } from "hardhat";
import {
  deployRewardsFixture,
  MAX_PAYOUT,
  type Payout,
  PERIOD_CAP,
  PERIOD_LENGTH,
  payout,
  transfers,
} from "./fixtures";

const TYPES = {
  PayoutBatch: [
    { name: "payouts", type: "Payout[]" },
    { name: "batchId", type: "uint64" },
    { name: "deadline", type: "uint64" },
  ],
  Payout: [
    { name: "orderRef", type: "bytes32" },
    { name: "to", type: "address" },
    { name: "amount", type: "uint256" },
  ],
};

interface Approval {
  payouts: Payout[];
  batchId: bigint;
  deadline: bigint;
  approver: string;
  signature: string;
}

async function domainOf(rewards: Contract) {
  const { chainId } = await ethers.provider.getNetwork();
  return {
    name: "Twinrail ReferralRewards",
    version: "2",
    chainId,
    verifyingContract: await rewards.getAddress(),
  };
}

/** `signer` approves exactly `payouts` as batch `batchId` (EIP-712 typed data, as eth_signTypedData_v4). */
async function approve(
  rewards: Contract,
  signer: Signer,
  payouts: Payout[],
  batchId: bigint,
  deadline?: bigint,
): Promise<Approval> {
  const until = deadline ?? BigInt(await time.latest()) + 3600n;
  const signature = await signer.signTypedData(await domainOf(rewards), TYPES, {
    payouts,
    batchId,
    deadline: until,
  });
  return { payouts, batchId, deadline: until, approver: await signer.getAddress(), signature };
}

function submit(rewards: Contract, operator: Signer, a: Approval, payouts: Payout[] = a.payouts) {
  return (rewards.connect(operator) as Contract).getFunction("payReferralBatchApproved")(
    payouts,
    a.batchId,
    a.deadline,
    a.approver,
    a.signature,
  );
}

/**
 * v1 deployed and used (one payout, so paidOrders and the period counter hold state), then upgraded to v2
 * with `initializeV2` in the same call, `APPROVER_ROLE` granted to a dedicated approver, approvals still off.
 */
async function upgradedFixture() {
  const base = await deployRewardsFixture();
  const { rewards, admin, operator, holders } = base;
  const approver = holders[10] as HardhatEthersSigner;
  const paidBefore = payout("v1-paid", holders[0]!, 7n);
  await rewards.connect(operator).getFunction("payReferralBatch")([paidBefore], 3n);
  const v2Implementation = await ethers.deployContract("ReferralRewardsV2");
  const initializeV2 = v2Implementation.interface.encodeFunctionData("initializeV2", []);
  await rewards.connect(admin).getFunction("upgradeToAndCall")(
    await v2Implementation.getAddress(),
    initializeV2,
  );
  const v2 = (await ethers.getContractAt(
    "ReferralRewardsV2",
    await rewards.getAddress(),
  )) as unknown as Contract;
  const approverRole = (await v2.getFunction("APPROVER_ROLE")()) as string;
  await v2.connect(admin).getFunction("grantRole")(approverRole, approver.address);
  return { ...base, v2, approver, approverRole, paidBefore };
}

async function approvalsOnFixture() {
  const fixture = await upgradedFixture();
  await fixture.v2.connect(fixture.admin).getFunction("setApprovalsRequired")(true);
  return fixture;
}

describe("ReferralRewardsV2: approvals the chain verifies", () => {
  describe("upgrade from v1", () => {
    it("keeps paidOrders, the period counter, caps, roles and the token, with approvals off", async () => {
      const { v2, token, operator, admin, roles, paidBefore } = await loadFixture(upgradedFixture);
      const word = (await v2.getFunction("paidOrders")(paidBefore.orderRef)) as bigint;
      expect(word).to.not.equal(0n);
      const [paid, batchId] = (await v2.getFunction("paidInfo")(paidBefore.orderRef)) as [boolean, bigint];
      expect([paid, batchId]).to.deep.equal([true, 3n]);
      expect(await v2.getFunction("token")()).to.equal(await token.getAddress());
      expect(await v2.getFunction("periodCap")()).to.equal(PERIOD_CAP);
      expect(await v2.getFunction("periodLength")()).to.equal(PERIOD_LENGTH);
      expect(await v2.getFunction("maxPayout")()).to.equal(MAX_PAYOUT);
      expect(await v2.getFunction("mintedInCurrentPeriod")()).to.equal(7n);
      expect(await v2.getFunction("hasRole")(roles.operator, operator.address)).to.equal(true);
      expect(await v2.getFunction("hasRole")(roles.admin, admin.address)).to.equal(true);
      expect(await v2.getFunction("approvalsRequired")()).to.equal(false);
      // Still at-most-once across the upgrade.
      await expect(
        v2.connect(operator).getFunction("payReferral")(
          paidBefore.orderRef,
          paidBefore.to,
          paidBefore.amount,
        ),
      )
        .to.be.revertedWithCustomError(v2, "AlreadyPaid")
        .withArgs(paidBefore.orderRef);
    });

    it("keeps v1 behaviour while approvals are off: the operator pays without a signature", async () => {
      const { v2, token, operator, holders } = await loadFixture(upgradedFixture);
      const item = payout("off-1", holders[1]!, 5n);
      await expect(v2.connect(operator).getFunction("payReferralBatch")([item], 9n))
        .to.emit(v2, "ReferralPaid")
        .withArgs(item.orderRef, item.to, 5n, 9n);
      await v2.connect(operator).getFunction("payReferral")(
        payout("off-2", holders[1]!, 1n).orderRef,
        item.to,
        1n,
      );
      expect(await token.getFunction("balanceOf")(item.to)).to.equal(6n);
    });

    it("sets up the EIP-712 domain once: initializeV2 cannot run again", async () => {
      const { v2, admin } = await loadFixture(upgradedFixture);
      const domain = (await v2.getFunction("eip712Domain")()) as unknown[];
      expect(domain.slice(1, 5)).to.deep.equal([
        "Twinrail ReferralRewards",
        "2",
        31337n,
        await v2.getAddress(),
      ]);
      await expect(v2.connect(admin).getFunction("initializeV2")()).to.be.revertedWithCustomError(
        v2,
        "InvalidInitialization",
      );
    });

    it("lets only the admin switch approvals, and switching off restores v1 behaviour", async () => {
      const { v2, admin, operator, approver, stranger, roles, holders } = await loadFixture(upgradedFixture);
      for (const caller of [operator, approver, stranger]) {
        await expect(v2.connect(caller).getFunction("setApprovalsRequired")(true))
          .to.be.revertedWithCustomError(v2, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, roles.admin);
      }
      await expect(v2.connect(admin).getFunction("setApprovalsRequired")(true))
        .to.emit(v2, "ApprovalsRequiredSet")
        .withArgs(true);
      const item = payout("toggle", holders[2]!, 2n);
      await expect(
        v2.connect(operator).getFunction("payReferralBatch")([item], 1n),
      ).to.be.revertedWithCustomError(v2, "ApprovalRequired");
      await v2.connect(admin).getFunction("setApprovalsRequired")(false);
      await expect(v2.connect(operator).getFunction("payReferralBatch")([item], 1n)).to.emit(
        v2,
        "ReferralPaid",
      );
    });
  });

  describe("with approvals on", () => {
    it("refuses the operator alone: payReferral and payReferralBatch revert ApprovalRequired", async () => {
      const { v2, token, operator, holders } = await loadFixture(approvalsOnFixture);
      const item = payout("no-approval", holders[1]!, 5n);
      await expect(
        v2.connect(operator).getFunction("payReferral")(item.orderRef, item.to, item.amount),
      ).to.be.revertedWithCustomError(v2, "ApprovalRequired");
      await expect(
        v2.connect(operator).getFunction("payReferralBatch")([item], 1n),
      ).to.be.revertedWithCustomError(v2, "ApprovalRequired");
      expect(await token.getFunction("balanceOf")(item.to)).to.equal(0n);
    });

    it("mints a batch the approver signed, records its batch id and marks the approval used", async () => {
      const { v2, token, operator, approver, holders } = await loadFixture(approvalsOnFixture);
      const items = [
        payout("a-1", holders[1]!, 5n),
        payout("a-2", holders[1]!, 6n),
        payout("a-3", holders[2]!, 7n),
      ];
      const approval = await approve(v2, approver, items, 21n);
      const digest = (await v2.getFunction("approvalDigest")(items, 21n, approval.deadline)) as string;
      expect(await v2.getFunction("approvalUsed")(digest)).to.equal(false);
      const receipt = await (await submit(v2, operator, approval)).wait();
      expect(transfers(token, receipt).map((t) => [t.to, t.value])).to.deep.equal([
        [holders[1]!.address, 11n],
        [holders[2]!.address, 7n],
      ]);
      await expect(submit(v2, operator, { ...approval, batchId: 22n })).to.be.revertedWithCustomError(
        v2,
        "InvalidApproval",
      );
      expect(await v2.getFunction("approvalUsed")(digest)).to.equal(true);
      const [paid, batchId] = (await v2.getFunction("paidInfo")(items[2]!.orderRef)) as [boolean, bigint];
      expect([paid, batchId]).to.deep.equal([true, 21n]);
    });

    it("emits BatchApproved with the approver, and the digest matches approvalDigest", async () => {
      const { v2, operator, approver, holders } = await loadFixture(approvalsOnFixture);
      const items = [payout("d-1", holders[3]!, 1n)];
      const approval = await approve(v2, approver, items, 30n);
      const digest = (await v2.getFunction("approvalDigest")(items, 30n, approval.deadline)) as string;
      expect(digest).to.equal(ethers.TypedDataEncoder.hash(await domainOf(v2), TYPES, approval));
      await expect(submit(v2, operator, approval))
        .to.emit(v2, "BatchApproved")
        .withArgs(30n, approver.address);
    });

    it("reverts a replayed approval with ApprovalReplayed, even once its items are paid", async () => {
      const { v2, token, operator, approver, holders } = await loadFixture(approvalsOnFixture);
      const items = [payout("r-1", holders[1]!, 5n)];
      const approval = await approve(v2, approver, items, 40n);
      const digest = (await v2.getFunction("approvalDigest")(items, 40n, approval.deadline)) as string;
      await submit(v2, operator, approval);
      await expect(submit(v2, operator, approval))
        .to.be.revertedWithCustomError(v2, "ApprovalReplayed")
        .withArgs(digest);
      expect(await token.getFunction("balanceOf")(holders[1]!.address)).to.equal(5n);
    });

    it("reverts an altered approval: other amount, recipient, order, item order or extra item", async () => {
      const { v2, token, operator, approver, holders } = await loadFixture(approvalsOnFixture);
      const a = payout("x-1", holders[1]!, 5n);
      const b = payout("x-2", holders[2]!, 6n);
      const approval = await approve(v2, approver, [a, b], 50n);
      const altered: Payout[][] = [
        [{ ...a, amount: 500n }, b],
        [{ ...a, to: holders[5]!.address }, b],
        [{ ...a, orderRef: payout("x-other", holders[1]!, 5n).orderRef }, b],
        [b, a],
        [a],
        [a, b, payout("x-3", holders[3]!, 1n)],
      ];
      for (const payouts of altered) {
        await expect(submit(v2, operator, approval, payouts))
          .to.be.revertedWithCustomError(v2, "InvalidApproval")
          .withArgs(approver.address);
      }
      await expect(
        submit(v2, operator, { ...approval, deadline: approval.deadline + 1n }),
      ).to.be.revertedWithCustomError(v2, "InvalidApproval");
      expect(await token.getFunction("balanceOf")(holders[5]!.address)).to.equal(0n);
      await submit(v2, operator, approval); // the unaltered approval still works
    });

    it("reverts an expired approval with ApprovalExpired", async () => {
      const { v2, operator, approver, holders } = await loadFixture(approvalsOnFixture);
      const deadline = BigInt(await time.latest()) + 60n;
      const approval = await approve(v2, approver, [payout("e-1", holders[1]!, 5n)], 60n, deadline);
      await time.increaseTo(deadline + 1n);
      await expect(submit(v2, operator, approval))
        .to.be.revertedWithCustomError(v2, "ApprovalExpired")
        .withArgs(deadline);
    });

    it("refuses signatures of anyone without APPROVER_ROLE, the operator and the admin included", async () => {
      const { v2, operator, admin, approver, approverRole, holders } = await loadFixture(approvalsOnFixture);
      const items = [payout("n-1", holders[1]!, 5n)];
      for (const signer of [operator, admin]) {
        const approval = await approve(v2, signer, items, 70n);
        await expect(submit(v2, operator, approval))
          .to.be.revertedWithCustomError(v2, "NotApprover")
          .withArgs(signer.address);
      }
      // Someone else's signature presented as the approver's.
      const forged = await approve(v2, operator, items, 70n);
      await expect(submit(v2, operator, { ...forged, approver: approver.address }))
        .to.be.revertedWithCustomError(v2, "InvalidApproval")
        .withArgs(approver.address);
      // A revoked approver is refused.
      const approval = await approve(v2, approver, items, 70n);
      await v2.connect(admin).getFunction("revokeRole")(approverRole, approver.address);
      await expect(submit(v2, operator, approval)).to.be.revertedWithCustomError(v2, "NotApprover");
    });

    it("lets only the operator submit an approved batch", async () => {
      const { v2, approver, stranger, roles, holders } = await loadFixture(approvalsOnFixture);
      const approval = await approve(v2, approver, [payout("o-1", holders[1]!, 5n)], 80n);
      for (const caller of [approver, stranger]) {
        await expect(submit(v2, caller, approval))
          .to.be.revertedWithCustomError(v2, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, roles.operator);
      }
    });

    it("keeps the v1 checks inside an approved batch: paid items skipped, caps enforced, pause", async () => {
      const { v2, token, operator, pauser, approver, holders, paidBefore } =
        await loadFixture(approvalsOnFixture);
      const fresh = payout("c-1", holders[1]!, 5n);
      const approval = await approve(v2, approver, [paidBefore, fresh], 90n);
      await expect(submit(v2, operator, approval))
        .to.emit(v2, "ReferralSkipped")
        .withArgs(paidBefore.orderRef, 90n);
      expect(await token.getFunction("balanceOf")(fresh.to)).to.equal(5n);
      const tooLarge = await approve(v2, approver, [payout("c-2", holders[1]!, MAX_PAYOUT + 1n)], 91n);
      await expect(submit(v2, operator, tooLarge)).to.be.revertedWithCustomError(v2, "PayoutTooLarge");
      await v2.connect(pauser).getFunction("pause")();
      const paused = await approve(v2, approver, [payout("c-3", holders[1]!, 1n)], 92n);
      await expect(submit(v2, operator, paused)).to.be.revertedWithCustomError(v2, "EnforcedPause");
    });
  });

  describe("ERC-1271 contract approver", () => {
    it("accepts a contract wallet's approval and refuses one its owner did not sign", async () => {
      const { v2, token, admin, operator, approverRole, holders } = await loadFixture(approvalsOnFixture);
      const owner = holders[11] as HardhatEthersSigner;
      const wallet = await ethers.deployContract("ApproverWallet", [owner.address]);
      const walletAddress = await wallet.getAddress();
      await v2.connect(admin).getFunction("grantRole")(approverRole, walletAddress);

      const items = [payout("w-1", holders[4]!, 9n)];
      const signed = await approve(v2, owner, items, 100n);
      await expect(submit(v2, operator, { ...signed, approver: walletAddress }))
        .to.emit(v2, "BatchApproved")
        .withArgs(100n, walletAddress);
      expect(await token.getFunction("balanceOf")(holders[4]!.address)).to.equal(9n);

      const notOwner = await approve(v2, operator, [payout("w-2", holders[4]!, 9n)], 101n);
      await expect(submit(v2, operator, { ...notOwner, approver: walletAddress }))
        .to.be.revertedWithCustomError(v2, "InvalidApproval")
        .withArgs(walletAddress);
    });
  });

  describe("fresh deployment", () => {
    it("initializes v2 directly behind a proxy, with the EIP-712 domain and approvals off", async () => {
      const [admin, operator, approver, holder] = await ethers.getSigners();
      const token = await ethers.deployContract("RewardToken", ["T", "T", admin!.address]);
      const implementation = await ethers.deployContract("ReferralRewardsV2");
      const init = implementation.interface.encodeFunctionData("initialize", [
        admin!.address,
        operator!.address,
        await token.getAddress(),
        0n,
        PERIOD_LENGTH,
        0n,
      ]);
      const proxy = await ethers.deployContract("ERC1967Proxy", [await implementation.getAddress(), init]);
      const v2 = (await ethers.getContractAt(
        "ReferralRewardsV2",
        await proxy.getAddress(),
      )) as unknown as Contract;
      await token.getFunction("grantRole")(await token.getFunction("MINTER_ROLE")(), await v2.getAddress());
      await v2.getFunction("grantRole")(await v2.getFunction("APPROVER_ROLE")(), approver!.address);
      await v2.getFunction("setApprovalsRequired")(true);
      const approval = await approve(v2, approver!, [payout("f-1", holder!, 3n)], 1n);
      await submit(v2, operator!, approval);
      expect(await token.getFunction("balanceOf")(holder!.address)).to.equal(3n);
      await expect(v2.connect(admin!).getFunction("initializeV2")()).to.be.revertedWithCustomError(
        v2,
        "InvalidInitialization",
      );
    });
  });
});
