// Mocha globals (describe, it): tsconfig loads only the "node" types.
/// <reference types="mocha" />
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { deployRewardsFixture } from "./fixtures";

describe("RewardToken", () => {
  it("has its name, symbol and 18 decimals", async () => {
    const { token } = await loadFixture(deployRewardsFixture);
    expect(await token.getFunction("name")()).to.equal("Twinrail Reward");
    expect(await token.getFunction("symbol")()).to.equal("TWR");
    expect(await token.getFunction("decimals")()).to.equal(18n);
  });

  it("mints only for MINTER_ROLE, which only the ReferralRewards proxy holds", async () => {
    const { token, rewards, admin, operator, roles } = await loadFixture(deployRewardsFixture);
    expect(await token.getFunction("hasRole")(roles.minter, await rewards.getAddress())).to.equal(true);
    for (const caller of [admin, operator]) {
      await expect(token.connect(caller).getFunction("mint")(caller.address, 1n))
        .to.be.revertedWithCustomError(token, "AccessControlUnauthorizedAccount")
        .withArgs(caller.address, roles.minter);
    }
  });

  it("refuses a zero admin", async () => {
    const factory = await ethers.getContractFactory("RewardToken");
    await expect(factory.deploy("T", "T", ethers.ZeroAddress)).to.be.revertedWithCustomError(
      factory,
      "RewardTokenZeroAdmin",
    );
  });

  it("accepts an EIP-2612 permit signed by the holder", async () => {
    const { token, rewards, operator, holders } = await loadFixture(deployRewardsFixture);
    const [owner, spender] = [holders[0]!, holders[1]!];
    await rewards.connect(operator).getFunction("payReferral")(ethers.id("permit"), owner.address, 100n);
    const { chainId } = await ethers.provider.getNetwork();
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
    const nonce = (await token.getFunction("nonces")(owner.address)) as bigint;
    const signature = ethers.Signature.from(
      await owner.signTypedData(
        { name: "Twinrail Reward", version: "1", chainId, verifyingContract: await token.getAddress() },
        {
          Permit: [
            { name: "owner", type: "address" },
            { name: "spender", type: "address" },
            { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" },
            { name: "deadline", type: "uint256" },
          ],
        },
        { owner: owner.address, spender: spender.address, value: 60n, nonce, deadline },
      ),
    );
    await token.getFunction("permit")(
      owner.address,
      spender.address,
      60n,
      deadline,
      signature.v,
      signature.r,
      signature.s,
    );
    expect(await token.getFunction("allowance")(owner.address, spender.address)).to.equal(60n);
  });
});
