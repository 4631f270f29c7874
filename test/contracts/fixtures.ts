import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Contract, Log } from "ethers";
import { ethers } from "hardhat";

export const PERIOD_LENGTH = 86_400n;
export const PERIOD_CAP = ethers.parseEther("1000");
export const MAX_PAYOUT = ethers.parseEther("100");

export interface Payout {
  orderRef: string;
  to: string;
  amount: bigint;
}

export interface RewardsFixture {
  rewards: Contract;
  token: Contract;
  implementation: Contract;
  admin: HardhatEthersSigner;
  operator: HardhatEthersSigner;
  pauser: HardhatEthersSigner;
  stranger: HardhatEthersSigner;
  holders: HardhatEthersSigner[];
  roles: { admin: string; operator: string; pauser: string; minter: string };
}

/** The dedupe key the off-chain minter uses: keccak256 of the order reference's UTF-8 bytes. */
export function orderRef(orderReference: string | number): string {
  return ethers.keccak256(ethers.toUtf8Bytes(`order-${orderReference}`));
}

export function payout(reference: string | number, to: { address: string } | string, amount: bigint): Payout {
  return { orderRef: orderRef(reference), to: typeof to === "string" ? to : to.address, amount };
}

/**
 * RewardToken + ReferralRewards behind OpenZeppelin's ERC1967Proxy, initialized in the proxy's constructor,
 * with MINTER_ROLE granted to the proxy and PAUSER_ROLE to a dedicated pauser. Use with `loadFixture`.
 */
export async function deployRewardsFixture(): Promise<RewardsFixture> {
  const [admin, operator, pauser, stranger, ...holders] = await ethers.getSigners();
  if (!admin || !operator || !pauser || !stranger) throw new Error("Hardhat needs at least 4 accounts");

  const token = await ethers.deployContract("RewardToken", ["Twinrail Reward", "TWR", admin.address]);
  const implementation = await ethers.deployContract("ReferralRewards");
  const initialize = implementation.interface.encodeFunctionData("initialize", [
    admin.address,
    operator.address,
    await token.getAddress(),
    PERIOD_CAP,
    PERIOD_LENGTH,
    MAX_PAYOUT,
  ]);
  const proxy = await ethers.deployContract("ERC1967Proxy", [await implementation.getAddress(), initialize]);
  const rewards = await ethers.getContractAt("ReferralRewards", await proxy.getAddress());

  const roles = {
    admin: (await rewards.getFunction("DEFAULT_ADMIN_ROLE")()) as string,
    operator: (await rewards.getFunction("OPERATOR_ROLE")()) as string,
    pauser: (await rewards.getFunction("PAUSER_ROLE")()) as string,
    minter: (await token.getFunction("MINTER_ROLE")()) as string,
  };
  await token.getFunction("grantRole")(roles.minter, await rewards.getAddress());
  await rewards.getFunction("grantRole")(roles.pauser, pauser.address);

  return {
    rewards: rewards as unknown as Contract,
    token: token as unknown as Contract,
    implementation: implementation as unknown as Contract,
    admin,
    operator,
    pauser,
    stranger,
    holders,
    roles,
  };
}

/** `Transfer` logs of `token` in a receipt, decoded. */
export function transfers(
  token: Contract,
  receipt: { logs: readonly Log[] } | null,
): { from: string; to: string; value: bigint }[] {
  if (!receipt) throw new Error("no receipt");
  const tokenAddress = String(token.target).toLowerCase();
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === tokenAddress)
    .map((log) => token.interface.parseLog(log))
    .filter((parsed) => parsed?.name === "Transfer")
    .map((parsed) => ({
      from: parsed!.args[0] as string,
      to: parsed!.args[1] as string,
      value: parsed!.args[2] as bigint,
    }));
}

/** Names of the `rewards` events in a receipt, in order. */
export function eventNames(rewards: Contract, receipt: { logs: readonly Log[] } | null): string[] {
  if (!receipt) throw new Error("no receipt");
  const address = String(rewards.target).toLowerCase();
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === address)
    .map((log) => rewards.interface.parseLog(log)?.name ?? "?");
}

/** Start of the period after the one containing `timestamp`. */
export function nextPeriodStart(timestamp: bigint | number): bigint {
  return (BigInt(timestamp) / PERIOD_LENGTH + 1n) * PERIOD_LENGTH;
}
