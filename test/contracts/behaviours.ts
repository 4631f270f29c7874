// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Contract, ContractTransactionResponse, Signer } from "ethers";
import { ethers } from "hardhat";
import {
  deployRewardsFixture,
  MAX_PAYOUT,
  nextPeriodStart,
  type Payout,
  PERIOD_CAP,
  payout,
} from "./fixtures";

/** One way of paying a single reward: `payReferral`, or `payReferralBatch` with a one-item batch. */
export interface PaymentPath {
  name: string;
  batchId: bigint;
  pay(rewards: Contract, signer: Signer, item: Payout): Promise<ContractTransactionResponse>;
}

export const PAY_REFERRAL: PaymentPath = {
  name: "payReferral",
  batchId: 0n,
  pay: (rewards, signer, item) =>
    (rewards.connect(signer) as Contract).getFunction("payReferral")(item.orderRef, item.to, item.amount),
};

export const PAY_REFERRAL_BATCH: PaymentPath = {
  name: "payReferralBatch",
  batchId: 42n,
  pay: (rewards, signer, item) =>
    (rewards.connect(signer) as Contract).getFunction("payReferralBatch")([item], 42n),
};

/** What every payment path guarantees: roles, pause, per-payout checks, the period cap and the paid record. */
export function shouldGuardPaymentPath(path: PaymentPath): void {
  describe(`${path.name}: shared guarantees`, () => {
    it("pays the recipient, emits ReferralPaid and records the block and batch in paidOrders", async () => {
      const { rewards, token, operator, holders } = await loadFixture(deployRewardsFixture);
      const item = payout("shared-1", holders[0]!, ethers.parseEther("5"));

      const tx = await path.pay(rewards, operator, item);
      await expect(tx)
        .to.emit(rewards, "ReferralPaid")
        .withArgs(item.orderRef, item.to, item.amount, path.batchId)
        .and.to.emit(token, "Transfer")
        .withArgs(ethers.ZeroAddress, item.to, item.amount);
      const receipt = await tx.wait();

      expect(await token.getFunction("balanceOf")(item.to)).to.equal(item.amount);
      const word = (await rewards.getFunction("paidOrders")(item.orderRef)) as bigint;
      expect(word).to.not.equal(0n);
      const [paid, batchId, blockNumber] = await rewards.getFunction("decodePaid")(word);
      expect([paid, batchId, blockNumber]).to.deep.equal([true, path.batchId, BigInt(receipt!.blockNumber)]);
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(item.amount);
    });

    it("reverts for a caller without OPERATOR_ROLE, even the admin", async () => {
      const { rewards, admin, stranger, holders, roles } = await loadFixture(deployRewardsFixture);
      for (const caller of [stranger, admin]) {
        await expect(path.pay(rewards, caller, payout("shared-2", holders[0]!, 1n)))
          .to.be.revertedWithCustomError(rewards, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, roles.operator);
      }
    });

    it("reverts while paused and pays again after unpause", async () => {
      const { rewards, operator, pauser, holders } = await loadFixture(deployRewardsFixture);
      const item = payout("shared-3", holders[0]!, 1n);
      await expect((rewards.connect(pauser) as Contract).getFunction("pause")()).to.emit(rewards, "Paused");
      await expect(path.pay(rewards, operator, item)).to.be.revertedWithCustomError(rewards, "EnforcedPause");
      await (rewards.connect(pauser) as Contract).getFunction("unpause")();
      await expect(path.pay(rewards, operator, item)).to.emit(rewards, "ReferralPaid");
    });

    it("reverts InvalidPayout for the zero address or a zero amount", async () => {
      const { rewards, operator, holders } = await loadFixture(deployRewardsFixture);
      const toNobody = payout("shared-4", ethers.ZeroAddress, 1n);
      await expect(path.pay(rewards, operator, toNobody))
        .to.be.revertedWithCustomError(rewards, "InvalidPayout")
        .withArgs(toNobody.orderRef);
      const nothing = payout("shared-5", holders[0]!, 0n);
      await expect(path.pay(rewards, operator, nothing))
        .to.be.revertedWithCustomError(rewards, "InvalidPayout")
        .withArgs(nothing.orderRef);
    });

    it("reverts PayoutTooLarge above the per-payout maximum and pays exactly the maximum", async () => {
      const { rewards, operator, holders } = await loadFixture(deployRewardsFixture);
      const tooLarge = payout("shared-6", holders[0]!, MAX_PAYOUT + 1n);
      await expect(path.pay(rewards, operator, tooLarge))
        .to.be.revertedWithCustomError(rewards, "PayoutTooLarge")
        .withArgs(tooLarge.orderRef, MAX_PAYOUT + 1n, MAX_PAYOUT);
      await expect(path.pay(rewards, operator, payout("shared-7", holders[0]!, MAX_PAYOUT))).to.emit(
        rewards,
        "ReferralPaid",
      );
    });

    it("reverts PeriodCapExceeded past the period cap, and pays again in the next period", async () => {
      const { rewards, admin, operator, holders } = await loadFixture(deployRewardsFixture);
      // Keep the whole test inside one period, whatever the wall clock says.
      await time.setNextBlockTimestamp(nextPeriodStart(await time.latest()));
      await (rewards.connect(admin) as Contract).getFunction("setMaxPayout")(PERIOD_CAP);
      await path.pay(rewards, operator, payout("shared-8", holders[0]!, PERIOD_CAP - 10n));

      const over = payout("shared-9", holders[0]!, 11n);
      await expect(path.pay(rewards, operator, over))
        .to.be.revertedWithCustomError(rewards, "PeriodCapExceeded")
        .withArgs(11n, 10n);
      await expect(path.pay(rewards, operator, payout("shared-10", holders[0]!, 10n))).to.emit(
        rewards,
        "ReferralPaid",
      );
      expect(await rewards.getFunction("remainingInCurrentPeriod")()).to.equal(0n);

      await time.setNextBlockTimestamp(nextPeriodStart(await time.latest()));
      await expect(path.pay(rewards, operator, over)).to.emit(rewards, "ReferralPaid");
      expect(await rewards.getFunction("mintedInCurrentPeriod")()).to.equal(11n);
    });
  });
}
