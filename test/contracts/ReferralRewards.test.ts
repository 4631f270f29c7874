// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Contract } from "ethers";
import { ethers } from "hardhat";
import { PAY_REFERRAL, PAY_REFERRAL_BATCH, shouldGuardPaymentPath } from "./behaviours";
import {
  deployRewardsFixture,
  eventNames,
  MAX_PAYOUT,
  nextPeriodStart,
  PERIOD_CAP,
  PERIOD_LENGTH,
  payout,
  transfers,
} from "./fixtures";

describe("ReferralRewards", () => {
  shouldGuardPaymentPath(PAY_REFERRAL);
  shouldGuardPaymentPath(PAY_REFERRAL_BATCH);

  describe("initialize", () => {
    it("sets roles, token and caps, and emits an event for each setting", async () => {
      const { rewards, token, admin, operator, pauser, roles } = await loadFixture(deployRewardsFixture);
      expect(await rewards.getFunction("hasRole")(roles.admin, admin.address)).to.equal(true);
      expect(await rewards.getFunction("hasRole")(roles.pauser, admin.address)).to.equal(true);
      expect(await rewards.getFunction("hasRole")(roles.pauser, pauser.address)).to.equal(true);
      expect(await rewards.getFunction("hasRole")(roles.operator, operator.address)).to.equal(true);
      expect(await rewards.getFunction("token")()).to.equal(await token.getAddress());
      expect(await rewards.getFunction("periodCap")()).to.equal(PERIOD_CAP);
      expect(await rewards.getFunction("periodLength")()).to.equal(PERIOD_LENGTH);
      expect(await rewards.getFunction("maxPayout")()).to.equal(MAX_PAYOUT);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(0n);

      const deployment = await ethers.provider.getTransactionReceipt(await proxyDeploymentHash(rewards));
      expect(eventNames(rewards, deployment)).to.include.members([
        "RewardTokenSet",
        "MintCapUpdated",
        "MaxPayoutUpdated",
        "Initialized",
      ]);
    });

    it("cannot run twice, nor on the implementation", async () => {
      const { rewards, implementation, admin, token } = await loadFixture(deployRewardsFixture);
      const args = [admin.address, admin.address, await token.getAddress(), 0n, 1n, 0n];
      await expect(rewards.getFunction("initialize")(...args)).to.be.revertedWithCustomError(
        rewards,
        "InvalidInitialization",
      );
      await expect(implementation.getFunction("initialize")(...args)).to.be.revertedWithCustomError(
        implementation,
        "InvalidInitialization",
      );
    });

    it("refuses a zero admin or token and a zero period length", async () => {
      const [admin] = await ethers.getSigners();
      const implementation = await ethers.deployContract("ReferralRewards");
      const init = (...args: unknown[]) => implementation.interface.encodeFunctionData("initialize", args);
      const proxy = (data: string) =>
        ethers
          .deployContract("ERC1967Proxy", [implementation.target, data])
          .then((c) => c.waitForDeployment());
      const someone = admin!.address;
      await expect(
        proxy(init(ethers.ZeroAddress, someone, someone, 0n, 1n, 0n)),
      ).to.be.revertedWithCustomError(implementation, "ZeroAddress");
      await expect(
        proxy(init(someone, someone, ethers.ZeroAddress, 0n, 1n, 0n)),
      ).to.be.revertedWithCustomError(implementation, "ZeroAddress");
      await expect(proxy(init(someone, someone, someone, 0n, 0n, 0n))).to.be.revertedWithCustomError(
        implementation,
        "InvalidPeriodLength",
      );
    });
  });

  describe("payReferral", () => {
    it("reverts AlreadyPaid for an orderRef paid before, by either path", async () => {
      const { rewards, operator, holders } = await loadFixture(deployRewardsFixture);
      const first = payout(1, holders[0]!, 10n);
      await rewards.connect(operator).getFunction("payReferral")(first.orderRef, first.to, first.amount);
      await expect(
        rewards.connect(operator).getFunction("payReferral")(first.orderRef, holders[1]!.address, 99n),
      )
        .to.be.revertedWithCustomError(rewards, "AlreadyPaid")
        .withArgs(first.orderRef);

      const batched = payout(2, holders[0]!, 10n);
      await rewards.connect(operator).getFunction("payReferralBatch")([batched], 5n);
      await expect(
        rewards.connect(operator).getFunction("payReferral")(batched.orderRef, batched.to, batched.amount),
      )
        .to.be.revertedWithCustomError(rewards, "AlreadyPaid")
        .withArgs(batched.orderRef);
    });
  });

  describe("payReferralBatch", () => {
    it("returns how many items it paid and how much it minted", async () => {
      const { rewards, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      await pay([payout(1, holders[0]!, 7n)], 1n);
      const batch = [payout(1, holders[0]!, 7n), payout(2, holders[1]!, 3n), payout(3, holders[1]!, 4n)];
      const [paidCount, paidAmount] = await pay.staticCall(batch, 2n);
      expect([paidCount, paidAmount]).to.deep.equal([2n, 7n]);
      const [emptyCount, emptyAmount] = await pay.staticCall([], 3n);
      expect([emptyCount, emptyAmount]).to.deep.equal([0n, 0n]);
    });

    it("skips items paid in an earlier batch with ReferralSkipped, minting nothing for them", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const a = payout("a", holders[0]!, 10n);
      const b = payout("b", holders[1]!, 20n);
      await pay([a], 1n);

      const tx = await pay([a, b], 2n);
      await expect(tx).to.emit(rewards, "ReferralSkipped").withArgs(a.orderRef, 2n);
      await expect(tx).to.emit(rewards, "ReferralPaid").withArgs(b.orderRef, b.to, b.amount, 2n);
      const receipt = await tx.wait();
      expect(eventNames(rewards, receipt)).to.deep.equal(["ReferralSkipped", "ReferralPaid"]);
      expect(transfers(token, receipt)).to.deep.equal([{ from: ethers.ZeroAddress, to: b.to, value: 20n }]);
      expect(await token.getFunction("balanceOf")(a.to)).to.equal(10n);
      const [, batchId] = await rewards.getFunction("paidInfo")(a.orderRef);
      expect(batchId).to.equal(1n);
    });

    it("skips a duplicate inside the same batch: the first occurrence is paid, the rest skipped", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const a = payout("dup", holders[0]!, 10n);
      const sameRefOtherRecipient = { ...a, to: holders[1]!.address, amount: 99n };
      const tx = await rewards.connect(operator).getFunction("payReferralBatch")(
        [a, sameRefOtherRecipient, a],
        3n,
      );
      const receipt = await tx.wait();
      expect(eventNames(rewards, receipt)).to.deep.equal([
        "ReferralPaid",
        "ReferralSkipped",
        "ReferralSkipped",
      ]);
      expect(await token.getFunction("totalSupply")()).to.equal(10n);
      expect(await token.getFunction("balanceOf")(holders[1]!.address)).to.equal(0n);
    });

    it("mints consecutive payouts to one recipient as a single Transfer", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const [alice, bob] = [holders[0]!, holders[1]!];
      const batch = [
        payout(1, alice, 1n),
        payout(2, alice, 2n),
        payout(3, alice, 3n),
        payout(4, bob, 10n),
        payout(5, alice, 100n), // not consecutive with the first run: a second mint
      ];
      const tx = await rewards.connect(operator).getFunction("payReferralBatch")(batch, 9n);
      const receipt = await tx.wait();
      expect(transfers(token, receipt)).to.deep.equal([
        { from: ethers.ZeroAddress, to: alice.address, value: 6n },
        { from: ethers.ZeroAddress, to: bob.address, value: 10n },
        { from: ethers.ZeroAddress, to: alice.address, value: 100n },
      ]);
      expect(eventNames(rewards, receipt).filter((name) => name === "ReferralPaid")).to.have.length(5);
    });

    it("keeps a run open across skipped items between two payouts to the same recipient", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const alice = holders[0]!;
      const paidBefore = payout("old", holders[1]!, 5n);
      await pay([paidBefore], 1n);
      const receipt = await (await pay([payout(1, alice, 1n), paidBefore, payout(2, alice, 2n)], 2n)).wait();
      expect(transfers(token, receipt)).to.deep.equal([
        { from: ethers.ZeroAddress, to: alice.address, value: 3n },
      ]);
    });

    it("reverts the whole batch with the item's error when one unpaid item is invalid", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const good = payout("good", holders[0]!, 1n);
      const zero = payout("zero", holders[1]!, 0n);
      const large = payout("large", holders[1]!, MAX_PAYOUT + 1n);
      await expect(pay([good, zero], 1n))
        .to.be.revertedWithCustomError(rewards, "InvalidPayout")
        .withArgs(zero.orderRef);
      await expect(pay([good, large], 1n))
        .to.be.revertedWithCustomError(rewards, "PayoutTooLarge")
        .withArgs(large.orderRef, large.amount, MAX_PAYOUT);
      expect(await rewards.getFunction("paidOrders")(good.orderRef)).to.equal(0n);
      expect(await token.getFunction("totalSupply")()).to.equal(0n);
    });

    it("skips an already-paid item without re-checking it against a since-lowered maximum", async () => {
      const { rewards, admin, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const big = payout("big", holders[0]!, MAX_PAYOUT);
      await pay([big], 1n);
      await rewards.connect(admin).getFunction("setMaxPayout")(1n);
      await expect(pay([big], 2n))
        .to.emit(rewards, "ReferralSkipped")
        .withArgs(big.orderRef, 2n);
    });

    it("reverts the whole batch with PeriodCapExceeded(requested, remaining) when the batch total is over the cap", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      await time.setNextBlockTimestamp(nextPeriodStart(await time.latest()));
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const tenFull = Array.from({ length: 10 }, (_, i) => payout(`full-${i}`, holders[i % 3]!, MAX_PAYOUT));
      await pay(tenFull.slice(0, 9), 1n);
      const lastTwo = [tenFull[9]!, payout("one-more", holders[0]!, 1n)];
      await expect(pay(lastTwo, 2n))
        .to.be.revertedWithCustomError(rewards, "PeriodCapExceeded")
        .withArgs(MAX_PAYOUT + 1n, MAX_PAYOUT);
      expect(await rewards.getFunction("paidOrders")(tenFull[9]!.orderRef)).to.equal(0n);
      expect(await token.getFunction("totalSupply")()).to.equal(MAX_PAYOUT * 9n);
      // Items already paid do not count against the cap.
      await expect(pay([...tenFull.slice(0, 9), tenFull[9]!], 3n)).to.emit(rewards, "ReferralPaid");
      expect(await rewards.getFunction("remainingInCurrentPeriod")()).to.equal(0n);
    });

    it("refuses a non-canonical address encoding, as the ABI decoder would", async () => {
      const { rewards, operator, holders } = await loadFixture(deployRewardsFixture);
      const item = payout(1, holders[0]!, 1n);
      const clean = rewards.interface.encodeFunctionData("payReferralBatch", [[item], 1n]);
      // selector, array offset, batchId, length, then item 0: orderRef, to (from byte 132), amount.
      const toWordAt = 2 + (4 + 32 * 4) * 2;
      expect(clean.slice(toWordAt, toWordAt + 64)).to.equal(item.to.slice(2).toLowerCase().padStart(64, "0"));
      const dirty = `${clean.slice(0, toWordAt)}ff${clean.slice(toWordAt + 2)}`;
      const target = await rewards.getAddress();
      await expect(operator.sendTransaction({ to: target, data: dirty })).to.be.reverted;
      await expect(operator.sendTransaction({ to: target, data: clean })).to.emit(rewards, "ReferralPaid");
    });

    it("an all-skipped batch mints nothing and does not touch the cap", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const pay = rewards.connect(operator).getFunction("payReferralBatch");
      const a = payout("x", holders[0]!, 5n);
      await pay([a], 1n);
      const receipt = await (await pay([a, a], 2n)).wait();
      expect(transfers(token, receipt)).to.deep.equal([]);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(5n);
    });
  });

  describe("caps", () => {
    it("only the admin sets them, with MintCapUpdated and MaxPayoutUpdated", async () => {
      const { rewards, admin, operator, roles } = await loadFixture(deployRewardsFixture);
      await expect(rewards.connect(operator).getFunction("setMintCap")(1n, 60n))
        .to.be.revertedWithCustomError(rewards, "AccessControlUnauthorizedAccount")
        .withArgs(operator.address, roles.admin);
      await expect(rewards.connect(operator).getFunction("setMaxPayout")(1n)).to.be.revertedWithCustomError(
        rewards,
        "AccessControlUnauthorizedAccount",
      );
      await expect(rewards.connect(admin).getFunction("setMintCap")(5n, 60n))
        .to.emit(rewards, "MintCapUpdated")
        .withArgs(5n, 60n);
      await expect(rewards.connect(admin).getFunction("setMaxPayout")(3n))
        .to.emit(rewards, "MaxPayoutUpdated")
        .withArgs(3n);
      await expect(rewards.connect(admin).getFunction("setMintCap")(5n, 0n)).to.be.revertedWithCustomError(
        rewards,
        "InvalidPeriodLength",
      );
      expect([
        await rewards.getFunction("periodCap")(),
        await rewards.getFunction("periodLength")(),
        await rewards.getFunction("maxPayout")(),
      ]).to.deep.equal([5n, 60n, 3n]);
    });

    it("treats 0 as unlimited for both the period cap and the per-payout maximum", async () => {
      const { rewards, admin, operator, holders } = await loadFixture(deployRewardsFixture);
      await rewards.connect(admin).getFunction("setMintCap")(0n, PERIOD_LENGTH);
      await rewards.connect(admin).getFunction("setMaxPayout")(0n);
      const huge = PERIOD_CAP * 1000n;
      await expect(
        rewards.connect(operator).getFunction("payReferralBatch")([payout(1, holders[0]!, huge)], 1n),
      ).to.emit(rewards, "ReferralPaid");
      expect(await rewards.getFunction("remainingInCurrentPeriod")()).to.equal(ethers.MaxUint256);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(huge);
    });

    it("carries what the current period minted over when the period length changes", async () => {
      const { rewards, admin, operator, holders } = await loadFixture(deployRewardsFixture);
      await time.setNextBlockTimestamp(nextPeriodStart(await time.latest()) + 100n);
      await rewards.connect(operator).getFunction("payReferral")(
        payout(1, holders[0]!, MAX_PAYOUT).orderRef,
        holders[0]!.address,
        MAX_PAYOUT,
      );
      await rewards.connect(admin).getFunction("setMintCap")(PERIOD_CAP, 3_600n);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(MAX_PAYOUT);
      await time.increase(3_600);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(0n);
    });

    it("a cap lowered below what the period already minted leaves nothing to mint", async () => {
      const { rewards, admin, operator, holders } = await loadFixture(deployRewardsFixture);
      await time.setNextBlockTimestamp(nextPeriodStart(await time.latest()));
      await rewards.connect(operator).getFunction("payReferralBatch")([payout(1, holders[0]!, 50n)], 1n);
      await rewards.connect(admin).getFunction("setMintCap")(20n, PERIOD_LENGTH);
      expect(await rewards.getFunction("remainingInCurrentPeriod")()).to.equal(0n);
      await expect(
        rewards.connect(operator).getFunction("payReferralBatch")([payout(2, holders[0]!, 1n)], 2n),
      )
        .to.be.revertedWithCustomError(rewards, "PeriodCapExceeded")
        .withArgs(1n, 0n);
    });
  });

  describe("pause", () => {
    it("only PAUSER_ROLE pauses and unpauses", async () => {
      const { rewards, operator, pauser, roles } = await loadFixture(deployRewardsFixture);
      await expect(rewards.connect(operator).getFunction("pause")())
        .to.be.revertedWithCustomError(rewards, "AccessControlUnauthorizedAccount")
        .withArgs(operator.address, roles.pauser);
      await rewards.connect(pauser).getFunction("pause")();
      await expect(rewards.connect(operator).getFunction("unpause")()).to.be.revertedWithCustomError(
        rewards,
        "AccessControlUnauthorizedAccount",
      );
      await expect(rewards.connect(pauser).getFunction("unpause")()).to.emit(rewards, "Unpaused");
    });
  });

  describe("decodePaid", () => {
    it("unpacks flag, block number and batch id, and reads 0 as unpaid", async () => {
      const { rewards } = await loadFixture(deployRewardsFixture);
      const word = (1n << 255n) | (123_456n << 64n) | 0xffff_ffff_ffff_ffffn;
      expect(await rewards.getFunction("decodePaid")(word)).to.deep.equal([
        true,
        0xffff_ffff_ffff_ffffn,
        123_456n,
      ]);
      expect(await rewards.getFunction("decodePaid")(0n)).to.deep.equal([false, 0n, 0n]);
    });
  });
});

/** The proxy deployment is the transaction that emitted the first MintCapUpdated. */
async function proxyDeploymentHash(rewards: Contract): Promise<string> {
  const [log] = await rewards.queryFilter(rewards.filters.MintCapUpdated!(), 0);
  if (!log) throw new Error("no MintCapUpdated log");
  return log.transactionHash;
}
