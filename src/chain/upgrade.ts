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
import { referralRewardsV2Abi, referralRewardsV2Bytecode } from "./abi.generated.js";

export interface UpgradeToV2Options {
  /** Holds DEFAULT_ADMIN_ROLE on the proxy: it upgrades, grants APPROVER_ROLE and flips the switch. */
  walletClient: WalletClient<Transport, Chain, Account>;
  publicClient: PublicClient<Transport, Chain>;
  /** The ReferralRewards proxy (v1). */
  proxy: Address;
  /** Get APPROVER_ROLE (EOAs or ERC-1271 contract wallets such as a Safe). */
  approvers: Address[];
  /** Switch approvals on now; default false: upgrade first, enable later (`setApprovalsRequired`). */
  enable?: boolean;
  confirmations?: number;
}

/**
 * v1 → v2 through UUPS: deploys the `ReferralRewardsV2` implementation and calls `upgradeToAndCall` with
 * `initializeV2` (the EIP-712 domain) in one transaction, then grants APPROVER_ROLE and, if asked, switches
 * approvals on. `paidOrders`, caps, roles and the token stay (same ERC-7201 namespace, fields appended; the
 * layout is checked by test/contracts/ReferralRewardsV2.layout.test.ts). Until the switch is on, v1's
 * entry points keep working, so the minter can be rolled out after the upgrade.
 */
export async function upgradeToV2(options: UpgradeToV2Options): Promise<{ implementation: Address }> {
  const { walletClient, publicClient, proxy } = options;
  const confirm = async (hash: Hash) => {
    const receipt = await publicClient.waitForTransactionReceipt({
      hash,
      confirmations: options.confirmations ?? 1,
    });
    if (receipt.status !== "success") throw new Error(`Upgrade transaction ${hash} reverted`);
    return receipt;
  };
  const deployed = await confirm(
    await walletClient.deployContract({ abi: referralRewardsV2Abi, bytecode: referralRewardsV2Bytecode }),
  );
  if (!deployed.contractAddress) throw new Error("Deploying ReferralRewardsV2 created no contract");
  const implementation = getAddress(deployed.contractAddress);
  await confirm(
    await walletClient.writeContract({
      address: proxy,
      abi: referralRewardsV2Abi,
      functionName: "upgradeToAndCall",
      args: [implementation, encodeFunctionData({ abi: referralRewardsV2Abi, functionName: "initializeV2" })],
    }),
  );
  const approverRole = await publicClient.readContract({
    address: proxy,
    abi: referralRewardsV2Abi,
    functionName: "APPROVER_ROLE",
  });
  for (const approver of options.approvers) {
    await confirm(
      await walletClient.writeContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "grantRole",
        args: [approverRole, approver],
      }),
    );
  }
  if (options.enable) {
    await confirm(
      await walletClient.writeContract({
        address: proxy,
        abi: referralRewardsV2Abi,
        functionName: "setApprovalsRequired",
        args: [true],
      }),
    );
  }
  return { implementation };
}
