import {
  type Account,
  type Address,
  type Chain,
  encodeFunctionData,
  getAddress,
  type Hash,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import {
  erc1967ProxyAbi,
  erc1967ProxyBytecode,
  referralRewardsAbi,
  referralRewardsBytecode,
  referralRewardsV2Abi,
  referralRewardsV2Bytecode,
  rewardTokenAbi,
  rewardTokenBytecode,
} from "./abi.generated.js";

export interface DeployContractsOptions {
  /** Signs and pays for the deployment; its account is the temporary admin while roles are wired. */
  walletClient: WalletClient<Transport, Chain, Account>;
  publicClient: PublicClient<Transport, Chain>;
  /** Final holder of DEFAULT_ADMIN_ROLE on both contracts (upgrades, caps, roles) and of PAUSER_ROLE. */
  admin: Address;
  /** The hot minter key: gets OPERATOR_ROLE. */
  operator: Address;
  /** An extra PAUSER_ROLE holder besides the admin. */
  pauser?: Address;
  /** Wei mintable per period; 0n = unlimited. */
  periodCap: bigint;
  /** Period length in seconds (> 0). */
  periodLength: bigint | number;
  /** Largest single payout in wei; 0n = unlimited. */
  maxPayout: bigint;
  tokenName?: string;
  tokenSymbol?: string;
  /** Blocks to wait for each transaction; default 1. */
  confirmations?: number;
  /**
   * Deploy `ReferralRewardsV2` (EIP-712 approvals) instead of v1: `approvers` get APPROVER_ROLE and, when
   * `approvalsRequired`, the switch is turned on before the admin roles are handed over.
   */
  v2?: { approvers: Address[]; approvalsRequired: boolean };
}

export interface DeployedContracts {
  rewardToken: Address;
  /** The ERC1967 proxy: the address everything talks to. */
  referralRewards: Address;
  referralRewardsImplementation: Address;
  /** Block of the first deployment transaction: where log scans start. */
  deployBlock: bigint;
}

/**
 * Deploys `RewardToken`, the `ReferralRewards` implementation and its ERC1967 proxy (initialized in the same
 * transaction, so nobody can front-run `initialize`), gives the proxy MINTER_ROLE on the token, and hands
 * the admin roles over to `admin` when it is not the deployer.
 */
export async function deployContracts(options: DeployContractsOptions): Promise<DeployedContracts> {
  const { walletClient, publicClient, admin, operator, pauser } = options;
  const deployer = walletClient.account.address;
  const confirmations = options.confirmations ?? 1;

  const confirm = async (hash: Hash) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash, confirmations });
    if (receipt.status !== "success") throw new Error(`Deployment transaction ${hash} reverted`);
    return receipt;
  };
  const deploy = async (hash: Hash, what: string) => {
    const receipt = await confirm(hash);
    if (!receipt.contractAddress) throw new Error(`Deploying ${what} (${hash}) created no contract`);
    return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber };
  };

  const token = await deploy(
    await walletClient.deployContract({
      abi: rewardTokenAbi,
      bytecode: rewardTokenBytecode,
      args: [options.tokenName ?? "Twinrail Reward", options.tokenSymbol ?? "TWR", deployer],
    }),
    "RewardToken",
  );
  const implementation = await deploy(
    options.v2
      ? await walletClient.deployContract({ abi: referralRewardsV2Abi, bytecode: referralRewardsV2Bytecode })
      : await walletClient.deployContract({ abi: referralRewardsAbi, bytecode: referralRewardsBytecode }),
    options.v2 ? "ReferralRewardsV2 implementation" : "ReferralRewards implementation",
  );
  const initialize = encodeFunctionData({
    abi: referralRewardsAbi,
    functionName: "initialize",
    args: [
      deployer,
      operator,
      token.address,
      options.periodCap,
      BigInt(options.periodLength),
      options.maxPayout,
    ],
  });
  const proxy = await deploy(
    await walletClient.deployContract({
      abi: erc1967ProxyAbi,
      bytecode: erc1967ProxyBytecode,
      args: [implementation.address, initialize],
    }),
    "ReferralRewards proxy",
  );

  const [minterRole, adminRole, pauserRole] = await Promise.all([
    publicClient.readContract({ address: token.address, abi: rewardTokenAbi, functionName: "MINTER_ROLE" }),
    publicClient.readContract({
      address: proxy.address,
      abi: referralRewardsAbi,
      functionName: "DEFAULT_ADMIN_ROLE",
    }),
    publicClient.readContract({
      address: proxy.address,
      abi: referralRewardsAbi,
      functionName: "PAUSER_ROLE",
    }),
  ]);
  const grant = (contract: "token" | "rewards", role: Hash, account: Address) =>
    contract === "token"
      ? walletClient.writeContract({
          address: token.address,
          abi: rewardTokenAbi,
          functionName: "grantRole",
          args: [role, account],
        })
      : walletClient.writeContract({
          address: proxy.address,
          abi: referralRewardsAbi,
          functionName: "grantRole",
          args: [role, account],
        });
  const renounce = (contract: "token" | "rewards", role: Hash) =>
    contract === "token"
      ? walletClient.writeContract({
          address: token.address,
          abi: rewardTokenAbi,
          functionName: "renounceRole",
          args: [role, deployer],
        })
      : walletClient.writeContract({
          address: proxy.address,
          abi: referralRewardsAbi,
          functionName: "renounceRole",
          args: [role, deployer],
        });

  await confirm(await grant("token", minterRole, proxy.address));
  if (options.v2) await enableApprovals(options, proxy.address, confirm);
  if (pauser && !sameAddress(pauser, admin)) await confirm(await grant("rewards", pauserRole, pauser));
  if (!sameAddress(admin, deployer)) {
    // Grant before renouncing, so the contracts are never without an admin.
    await confirm(await grant("token", adminRole, admin));
    await confirm(await grant("rewards", adminRole, admin));
    await confirm(await grant("rewards", pauserRole, admin));
    if (!(pauser && sameAddress(pauser, deployer))) await confirm(await renounce("rewards", pauserRole));
    await confirm(await renounce("rewards", adminRole));
    await confirm(await renounce("token", adminRole));
  }

  return {
    rewardToken: token.address,
    referralRewards: proxy.address,
    referralRewardsImplementation: implementation.address,
    deployBlock: token.blockNumber,
  };
}

/** v2: APPROVER_ROLE for the approvers, then the switch, while the deployer is still admin. */
async function enableApprovals(
  options: DeployContractsOptions,
  proxy: Address,
  confirm: (hash: Hash) => Promise<unknown>,
): Promise<void> {
  const { walletClient, publicClient } = options;
  const v2 = options.v2;
  if (!v2) return;
  const approverRole = await publicClient.readContract({
    address: proxy,
    abi: referralRewardsV2Abi,
    functionName: "APPROVER_ROLE",
  });
  for (const approver of v2.approvers) {
    await confirm(
      await walletClient.writeContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "grantRole",
        args: [approverRole, approver],
      }),
    );
  }
  if (v2.approvalsRequired) {
    await confirm(
      await walletClient.writeContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "setApprovalsRequired",
        args: [true],
      }),
    );
  }
}

function sameAddress(a: Address, b: Address): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
