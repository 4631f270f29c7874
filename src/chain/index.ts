import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  isAddress,
  type PublicClient,
  type Transport,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { referralRewardsAbi, referralRewardsV2Abi } from "./abi.generated.js";
import type { BatchApprover } from "./approvals.js";

export { type ChainApprovalOptions, chainApprovals } from "./approver-setup.js";

import { type ChainApprovalOptions, localApprovals, resolveApprover } from "./approver-setup.js";
import { deployContracts } from "./deploy.js";
import { HARDHAT_ACCOUNT_0, HARDHAT_CHAIN_ID, startEmbeddedChain } from "./embedded.js";

export { orderRefHash } from "../domain/order-ref.js";
export {
  erc1967ProxyAbi,
  referralRewardsAbi,
  rewardTokenAbi,
} from "./abi.generated.js";
export {
  type ApproverKeysMode,
  approvalTypedData,
  type BatchApproval,
  type BatchApprover,
  DEMO_APPROVER,
} from "./approvals.js";
export { type DeployContractsOptions, type DeployedContracts, deployContracts } from "./deploy.js";
export { HARDHAT_ACCOUNT_0, HARDHAT_CHAIN_ID } from "./embedded.js";

/** A connected chain with the Twinrail contracts, ready for the minter. */
export interface Chain {
  mode: "embedded" | "rpc";
  chainId: number;
  publicClient: PublicClient<Transport, ViemChain>;
  /** Its account is the operator's local key: transactions are signed in-process (`signTransaction`). */
  walletClient: WalletClient<Transport, ViemChain, PrivateKeyAccount>;
  operator: Address;
  addresses: { rewardToken: Address; referralRewards: Address };
  /** Block of the deployment: log scans start here. */
  deployBlock: bigint;
  /** Confirmations to wait for (always 1 on the embedded chain, which mines only on demand). */
  confirmations: number;
  /** `ReferralRewardsV2` (EIP-712 approvals) or v1, read from the contract at connect time. */
  contractVersion: 1 | 2;
  /**
   * Service mode on a v2 contract: the approver key the service holds, which signs every batch the minter
   * submits (`payReferralBatchApproved`). Undefined in wallet mode and on v1: the minter sends
   * `payReferralBatch`, which reverts `ApprovalRequired` once the admin has switched approvals on.
   */
  approver?: BatchApprover;
  close(): Promise<void>;
}

export interface ConnectChainOptions {
  /** JSON-RPC URL; without it an embedded in-process Hardhat chain is started and the contracts deployed. */
  rpcUrl?: string;
  /** Expected chain id; checked against the node. */
  chainId?: number;
  /** Operator key (RPC mode). Defaults to Hardhat account #0 only on chain 31337. */
  operatorPrivateKey?: Hex;
  /** Deployment addresses (RPC mode); default `deployments/<chainId>.json`. */
  deploymentsFile?: string;
  confirmations: number;
  approvals?: ChainApprovalOptions;
}

/** Contents of `deployments/<network>.json`, written by `scripts/deploy.ts`. */
export interface DeploymentRecord {
  chainId: number;
  rewardToken: Address;
  referralRewards: Address;
  deployBlock: number;
  admin: Address;
  operator: Address;
  /** Informational, written by `scripts/deploy.ts`. */
  referralRewardsImplementation?: Address;
  pauser?: Address;
}

/** Caps of the embedded demo chain: 1,000,000 tokens per day, 10,000 tokens per payout (18 decimals). */
export const EMBEDDED_CAPS = {
  periodCap: 10n ** 24n,
  periodLength: 86_400,
  maxPayout: 10n ** 22n,
} as const;

/**
 * Connects to the chain. Without `rpcUrl`: an embedded Hardhat chain with the contracts deployed at boot,
 * Hardhat account #0 as admin, operator and pauser. With `rpcUrl`: addresses come from the deployments file;
 * on a local dev chain (31337) a missing or stale file means deploy now and write it, elsewhere an error.
 */
export async function connectChain(options: ConnectChainOptions): Promise<Chain> {
  return options.rpcUrl === undefined ? connectEmbedded(options) : connectRpc(options.rpcUrl, options);
}

async function connectEmbedded(options: ConnectChainOptions): Promise<Chain> {
  if (options.chainId !== undefined && options.chainId !== HARDHAT_CHAIN_ID) {
    throw new Error(
      `The embedded chain has chain id ${HARDHAT_CHAIN_ID}, not ${options.chainId}; set an RPC URL`,
    );
  }
  const embedded = await startEmbeddedChain();
  try {
    const chain = localChain(HARDHAT_CHAIN_ID, "Twinrail embedded Hardhat", "http://127.0.0.1/embedded");
    const account = privateKeyToAccount(HARDHAT_ACCOUNT_0.privateKey);
    const { publicClient, walletClient } = clients(chain, embedded.transport, account, 50);
    const deployed = await deployContracts({
      walletClient,
      publicClient,
      admin: account.address,
      operator: account.address,
      ...EMBEDDED_CAPS,
      v2: localApprovals(options.approvals),
    });
    return {
      mode: "embedded",
      chainId: HARDHAT_CHAIN_ID,
      publicClient,
      walletClient,
      operator: account.address,
      addresses: { rewardToken: deployed.rewardToken, referralRewards: deployed.referralRewards },
      deployBlock: deployed.deployBlock,
      confirmations: 1,
      contractVersion: 2,
      approver: resolveApprover(
        options.approvals,
        HARDHAT_CHAIN_ID,
        deployed.referralRewards,
        account.address,
        2,
      ),
      close: () => embedded.close(),
    };
  } catch (error) {
    await embedded.close();
    throw error;
  }
}

async function connectRpc(rpcUrl: string, options: ConnectChainOptions): Promise<Chain> {
  const probe = createPublicClient({ transport: http(rpcUrl) });
  let chainId: number;
  try {
    chainId = await probe.getChainId();
  } catch (error) {
    throw new Error(`Cannot reach the chain at ${rpcUrl}: ${(error as Error).message}`, { cause: error });
  }
  if (options.chainId !== undefined && options.chainId !== chainId) {
    throw new Error(
      `The node at ${rpcUrl} serves chain id ${chainId}, but chain id ${options.chainId} is configured`,
    );
  }
  const localDev = chainId === HARDHAT_CHAIN_ID;
  const privateKey = options.operatorPrivateKey ?? (localDev ? HARDHAT_ACCOUNT_0.privateKey : undefined);
  if (!privateKey) throw new Error(`An operator private key is required for chain ${chainId}`);
  const account = privateKeyToAccount(privateKey);

  const chain = localChain(chainId, localDev ? "Hardhat" : `Chain ${chainId}`, rpcUrl);
  const { publicClient, walletClient } = clients(chain, http(rpcUrl), account, localDev ? 100 : 2_000);
  const deploymentsFile = path.resolve(
    options.deploymentsFile ?? path.join("deployments", `${chainId}.json`),
  );

  let deployment = existsSync(deploymentsFile) ? readDeployment(deploymentsFile) : undefined;
  if (deployment && deployment.chainId !== chainId) {
    throw new Error(
      `${deploymentsFile} is for chain ${deployment.chainId}, but the node serves chain ${chainId}`,
    );
  }
  const deployed = deployment !== undefined && (await hasCode(publicClient, deployment.referralRewards));
  if (!deployed) {
    if (!localDev) {
      throw new Error(
        deployment
          ? `No contract at ${deployment.referralRewards} (from ${deploymentsFile}) on chain ${chainId}`
          : `${deploymentsFile} not found: deploy first with \`npx tsx scripts/deploy.ts --rpc-url ${rpcUrl}\``,
      );
    }
    // A local dev node starts empty (and forgets everything on restart): deploy and remember.
    const result = await deployContracts({
      walletClient,
      publicClient,
      admin: account.address,
      operator: account.address,
      confirmations: options.confirmations,
      ...EMBEDDED_CAPS,
      v2: localApprovals(options.approvals),
    });
    deployment = {
      chainId,
      rewardToken: result.rewardToken,
      referralRewards: result.referralRewards,
      deployBlock: Number(result.deployBlock),
      admin: account.address,
      operator: account.address,
      referralRewardsImplementation: result.referralRewardsImplementation,
    };
    writeDeployment(deploymentsFile, deployment);
  }
  if (!deployment) throw new Error("unreachable: deployment resolved above");

  const operatorRole = await publicClient.readContract({
    address: deployment.referralRewards,
    abi: referralRewardsAbi,
    functionName: "OPERATOR_ROLE",
  });
  const isOperator = await publicClient.readContract({
    address: deployment.referralRewards,
    abi: referralRewardsAbi,
    functionName: "hasRole",
    args: [operatorRole, account.address],
  });
  if (!isOperator) {
    throw new Error(
      `${account.address} lacks OPERATOR_ROLE on ReferralRewards ${deployment.referralRewards}: ` +
        "grant it with the admin key, or configure the operator's private key",
    );
  }

  // v1 has no `approvalsRequired`: the call reverts.
  const contractVersion = await publicClient
    .readContract({
      address: deployment.referralRewards,
      abi: referralRewardsV2Abi,
      functionName: "approvalsRequired",
    })
    .then(() => 2 as const)
    .catch(() => 1 as const);
  return {
    mode: "rpc",
    chainId,
    publicClient,
    walletClient,
    operator: account.address,
    addresses: { rewardToken: deployment.rewardToken, referralRewards: deployment.referralRewards },
    deployBlock: BigInt(deployment.deployBlock),
    confirmations: options.confirmations,
    contractVersion,
    approver: resolveApprover(
      options.approvals,
      chainId,
      deployment.referralRewards,
      account.address,
      contractVersion,
    ),
    close: async () => {},
  };
}

/** Reads and validates a deployments file. */
export function readDeployment(file: string): DeploymentRecord {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`Cannot read deployments file ${file}: ${(error as Error).message}`, { cause: error });
  }
  const address = (key: string): Address => {
    const value = raw[key];
    if (typeof value !== "string" || !isAddress(value))
      throw new Error(`${file}: "${key}" is not an address`);
    return value;
  };
  const integer = (key: string): number => {
    const value = typeof raw[key] === "string" ? Number(raw[key]) : raw[key];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new Error(`${file}: "${key}" is not a non-negative integer`);
    }
    return value;
  };
  return {
    chainId: integer("chainId"),
    rewardToken: address("rewardToken"),
    referralRewards: address("referralRewards"),
    deployBlock: integer("deployBlock"),
    admin: address("admin"),
    operator: address("operator"),
    ...(raw.referralRewardsImplementation === undefined
      ? {}
      : { referralRewardsImplementation: address("referralRewardsImplementation") }),
    ...(raw.pauser === undefined ? {} : { pauser: address("pauser") }),
  };
}

/** Writes a deployments file (creating its directory). */
export function writeDeployment(file: string, deployment: DeploymentRecord): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(deployment, null, 2)}\n`);
}

function localChain(id: number, name: string, rpcUrl: string): ViemChain {
  return defineChain({
    id,
    name,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

function clients(
  chain: ViemChain,
  transport: Transport,
  account: PrivateKeyAccount,
  pollingInterval: number,
) {
  const publicClient: PublicClient<Transport, ViemChain> = createPublicClient({
    chain,
    transport,
    pollingInterval,
  });
  const walletClient: WalletClient<Transport, ViemChain, PrivateKeyAccount> = createWalletClient({
    account,
    chain,
    transport,
    pollingInterval,
  });
  return { publicClient, walletClient };
}

async function hasCode(publicClient: PublicClient, address: Address): Promise<boolean> {
  const code = await publicClient.getCode({ address });
  return code !== undefined && code !== "0x";
}
