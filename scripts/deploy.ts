/**
 * Deploys RewardToken + ReferralRewards (UUPS proxy) to a chain, wires the roles and writes
 * `deployments/<network or chainId>.json`, which `connectChain` reads.
 *
 *   DEPLOYER_PRIVATE_KEY=0x… npx tsx scripts/deploy.ts --rpc-url URL [--network NAME] [--admin ADDR]
 *     [--operator ADDR] [--pauser ADDR] [--period-cap WEI] [--period-seconds N] [--max-payout WEI]
 *     [--confirmations N] [--out FILE] [--approver ADDR]... [--approvals-on]
 *
 * Without DEPLOYER_PRIVATE_KEY the well-known Hardhat account #0 is used, on chain 31337 only. The admin
 * (default: the deployer) gets DEFAULT_ADMIN_ROLE and PAUSER_ROLE on both contracts; the deployer keeps no
 * role when the admin is someone else. On other chains --operator is required.
 * --approver (repeatable) deploys ReferralRewardsV2 with APPROVER_ROLE for each (an EOA or a Safe, never
 * the operator); --approvals-on switches approvals on at once (docs/contracts.md "ReferralRewardsV2").
 */
import path from "node:path";
import { parseArgs } from "node:util";
import {
  type Address,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  type Hex,
  http,
  isAddress,
  type PublicClient,
  type Transport,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { deployContracts } from "../src/chain/deploy.js";
import { HARDHAT_ACCOUNT_0, HARDHAT_CHAIN_ID } from "../src/chain/embedded.js";
import { EMBEDDED_CAPS, writeDeployment } from "../src/chain/index.js";

function fail(message: string): never {
  console.error(`deploy: ${message}`);
  process.exit(1);
}

function address(name: string, value: string | undefined): Address | undefined {
  if (value === undefined) return undefined;
  // Any letter case is accepted; the address is written checksummed.
  if (!isAddress(value, { strict: false })) fail(`--${name} "${value}" is not an address`);
  return getAddress(value);
}

function wei(name: string, value: string | undefined, fallback: bigint): bigint {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,78}$/.test(value)) fail(`--${name} must be an integer amount of wei, got "${value}"`);
  return BigInt(value);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "rpc-url": { type: "string" },
      network: { type: "string" },
      admin: { type: "string" },
      operator: { type: "string" },
      pauser: { type: "string" },
      "period-cap": { type: "string" },
      "period-seconds": { type: "string" },
      "max-payout": { type: "string" },
      confirmations: { type: "string" },
      out: { type: "string" },
      approver: { type: "string", multiple: true },
      "approvals-on": { type: "boolean" },
    },
    strict: true,
  });
  const rpcUrl = values["rpc-url"] ?? fail("--rpc-url is required");
  const confirmations = Number(values.confirmations ?? 1);
  if (!Number.isInteger(confirmations) || confirmations < 1)
    fail("--confirmations must be a positive integer");
  const periodSeconds = Number(values["period-seconds"] ?? EMBEDDED_CAPS.periodLength);
  if (!Number.isSafeInteger(periodSeconds) || periodSeconds < 1)
    fail("--period-seconds must be a positive integer");

  const chainId = await createPublicClient({ transport: http(rpcUrl) })
    .getChainId()
    .catch((error: unknown) => fail(`cannot reach ${rpcUrl}: ${(error as Error).message}`));
  const key = process.env.DEPLOYER_PRIVATE_KEY as Hex | undefined;
  if (!key && chainId !== HARDHAT_CHAIN_ID) fail(`DEPLOYER_PRIVATE_KEY is required on chain ${chainId}`);
  const deployer = privateKeyToAccount(key ?? HARDHAT_ACCOUNT_0.privateKey);

  const admin = address("admin", values.admin) ?? deployer.address;
  const operator =
    address("operator", values.operator) ??
    (chainId === HARDHAT_CHAIN_ID ? deployer.address : fail(`--operator is required on chain ${chainId}`));
  const pauser = address("pauser", values.pauser);
  const periodCap = wei("period-cap", values["period-cap"], EMBEDDED_CAPS.periodCap);
  const maxPayout = wei("max-payout", values["max-payout"], EMBEDDED_CAPS.maxPayout);
  const approvers = (values.approver ?? []).map((value) => address("approver", value) as Address);
  if (approvers.some((approver) => approver.toLowerCase() === operator.toLowerCase()))
    fail("--approver must not be the operator: a key that submits and approves defeats the approvals");
  if (values["approvals-on"] && approvers.length === 0) fail("--approvals-on needs at least one --approver");

  const chain = defineChain({
    id: chainId,
    name: values.network ?? `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const pollingInterval = chainId === HARDHAT_CHAIN_ID ? 100 : 2_000;
  const publicClient: PublicClient<Transport, ViemChain> = createPublicClient({
    chain,
    transport: http(rpcUrl),
    pollingInterval,
  });
  const walletClient: WalletClient<Transport, ViemChain, PrivateKeyAccount> = createWalletClient({
    account: deployer,
    chain,
    transport: http(rpcUrl),
    pollingInterval,
  });

  console.log(
    `Deploying to chain ${chainId} from ${deployer.address}: admin ${admin}, operator ${operator}` +
      `${pauser ? `, pauser ${pauser}` : ""}; cap ${periodCap} wei per ${periodSeconds} s` +
      `${periodCap === 0n ? " (unlimited)" : ""}, max payout ${maxPayout} wei${maxPayout === 0n ? " (unlimited)" : ""}`,
  );
  const deployed = await deployContracts({
    walletClient,
    publicClient,
    admin,
    operator,
    pauser,
    periodCap,
    periodLength: periodSeconds,
    maxPayout,
    confirmations,
    ...(approvers.length ? { v2: { approvers, approvalsRequired: values["approvals-on"] === true } } : {}),
  });

  const out = path.resolve(values.out ?? path.join("deployments", `${values.network ?? chainId}.json`));
  writeDeployment(out, {
    chainId,
    rewardToken: deployed.rewardToken,
    referralRewards: deployed.referralRewards,
    deployBlock: Number(deployed.deployBlock),
    admin,
    operator,
    referralRewardsImplementation: deployed.referralRewardsImplementation,
    ...(pauser ? { pauser } : {}),
  });
  console.log(
    `RewardToken ${deployed.rewardToken}\nReferralRewards ${deployed.referralRewards} ` +
      `(implementation ${deployed.referralRewardsImplementation})\ndeploy block ${deployed.deployBlock}\nwrote ${out}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
