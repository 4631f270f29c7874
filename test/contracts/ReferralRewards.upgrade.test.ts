// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Contract } from "ethers";
import { ethers } from "hardhat";
import { deployRewardsFixture, MAX_PAYOUT, PERIOD_CAP, PERIOD_LENGTH, payout } from "./fixtures";

// ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1).
const IMPLEMENTATION_SLOT = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";

async function implementationOf(proxy: Contract): Promise<string> {
  const word = await ethers.provider.getStorage(await proxy.getAddress(), IMPLEMENTATION_SLOT);
  return ethers.getAddress(`0x${word.slice(-40)}`);
}

describe("ReferralRewards upgrades (UUPS)", () => {
  it("lets the admin upgrade, keeping paidOrders, caps, roles and the token", async () => {
    const { rewards, token, admin, operator, holders, roles } = await loadFixture(deployRewardsFixture);
    const paid = payout("before-upgrade", holders[0]!, 7n);
    await rewards.connect(operator).getFunction("payReferralBatch")([paid], 11n);
    const wordBefore = (await rewards.getFunction("paidOrders")(paid.orderRef)) as bigint;

    const v2 = await ethers.deployContract("ReferralRewardsMarker");
    await expect(rewards.connect(admin).getFunction("upgradeToAndCall")(await v2.getAddress(), "0x"))
      .to.emit(rewards, "Upgraded")
      .withArgs(await v2.getAddress());
    expect(await implementationOf(rewards)).to.equal(await v2.getAddress());

    const upgraded = await ethers.getContractAt("ReferralRewardsMarker", await rewards.getAddress());
    expect(await upgraded.getFunction("version")()).to.equal("2");
    expect(await upgraded.getFunction("paidOrders")(paid.orderRef)).to.equal(wordBefore);
    expect(await upgraded.getFunction("token")()).to.equal(await token.getAddress());
    expect(await upgraded.getFunction("periodCap")()).to.equal(PERIOD_CAP);
    expect(await upgraded.getFunction("periodLength")()).to.equal(PERIOD_LENGTH);
    expect(await upgraded.getFunction("maxPayout")()).to.equal(MAX_PAYOUT);
    expect(await upgraded.getFunction("mintedInCurrentPeriod")()).to.equal(7n);
    expect(await upgraded.getFunction("hasRole")(roles.operator, operator.address)).to.equal(true);

    // Still at-most-once after the upgrade.
    await expect(upgraded.connect(operator).getFunction("payReferral")(paid.orderRef, paid.to, paid.amount))
      .to.be.revertedWithCustomError(upgraded, "AlreadyPaid")
      .withArgs(paid.orderRef);
  });

  it("refuses upgrades from anyone but the admin, the operator included", async () => {
    const { rewards, operator, pauser, stranger, roles } = await loadFixture(deployRewardsFixture);
    const v2 = await ethers.deployContract("ReferralRewardsMarker");
    const before = await implementationOf(rewards);
    for (const caller of [operator, pauser, stranger]) {
      await expect(rewards.connect(caller).getFunction("upgradeToAndCall")(await v2.getAddress(), "0x"))
        .to.be.revertedWithCustomError(rewards, "AccessControlUnauthorizedAccount")
        .withArgs(caller.address, roles.admin);
    }
    expect(await implementationOf(rewards)).to.equal(before);
  });

  it("keeps its state in the ERC-7201 namespace twinrail.storage.ReferralRewards", async () => {
    const { rewards, token } = await loadFixture(deployRewardsFixture);
    const namespace = BigInt(ethers.keccak256(ethers.toUtf8Bytes("twinrail.storage.ReferralRewards"))) - 1n;
    const location =
      BigInt(ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["uint256"], [namespace]))) & ~0xffn;
    // Slot 0 is the paidOrders mapping; slot 1 packs the token address (low 20 bytes) and the period length.
    const slot1 = BigInt(await ethers.provider.getStorage(await rewards.getAddress(), location + 1n));
    expect(ethers.getAddress(ethers.toBeHex(slot1 & ((1n << 160n) - 1n), 20))).to.equal(
      await token.getAddress(),
    );
    expect(slot1 >> 160n).to.equal(PERIOD_LENGTH);
  });

  it("refuses an upgrade to a contract that is not UUPS", async () => {
    const { rewards, token, admin } = await loadFixture(deployRewardsFixture);
    await expect(
      rewards.connect(admin).getFunction("upgradeToAndCall")(await token.getAddress(), "0x"),
    ).to.be.revertedWithCustomError(rewards, "ERC1967InvalidImplementation");
  });
});
