/**
 * Upgrades a deployed ReferralRewards proxy (v1) to ReferralRewardsV2 (EIP-712 approvals) through UUPS,
 * with the admin key: deploy, `upgradeToAndCall(v2, initializeV2())`, APPROVER_ROLE for each --approver,
 * and with --approvals-on the switch (default: off, v1 behaviour until `setApprovalsRequired(true)`).
 *
 *   ADMIN_PRIVATE_KEY=0x… npx tsx scripts/upgrade-v2.ts --rpc-url URL [--deployments FILE]
 *     --approver 0xSafe [--approver 0x…] [--approvals-on] [--confirmations N]
 *
 * Without ADMIN_PRIVATE_KEY the Hardhat account #0 is used, on chain 31337 only. docs/runbook.md
 * "Upgrade to v2 and turn approvals on".
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
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { HARDHAT_ACCOUNT_0, HARDHAT_CHAIN_ID } from "../src/chain/embedded.js";
import { readDeployment, writeDeployment } from "../src/chain/index.js";
import { upgradeToV2 } from "../src/chain/upgrade.js";

function fail(message: string): never {
  console.error(`upgrade-v2: ${message}`);
  process.exit(1);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "rpc-url": { type: "string" },
      deployments: { type: "string" },
      approver: { type: "string", multiple: true },
      "approvals-on": { type: "boolean" },
      confirmations: { type: "string" },
    },
    strict: true,
  });
  const rpcUrl = values["rpc-url"] ?? fail("--rpc-url is required");
  const approvers: Address[] = (values.approver ?? []).map((value) =>
    isAddress(value, { strict: false }) ? getAddress(value) : fail(`--approver "${value}" is not an address`),
  );
  if (approvers.length === 0) fail("at least one --approver is required");
  const chainId = await createPublicClient({ transport: http(rpcUrl) })
    .getChainId()
    .catch((error: unknown) => fail(`cannot reach ${rpcUrl}: ${(error as Error).message}`));
  const file = path.resolve(values.deployments ?? path.join("deployments", `${chainId}.json`));
  const deployment = readDeployment(file);
  if (approvers.some((approver) => approver.toLowerCase() === deployment.operator.toLowerCase()))
    fail("--approver must not be the operator");
  const key = process.env.ADMIN_PRIVATE_KEY as Hex | undefined;
  if (!key && chainId !== HARDHAT_CHAIN_ID) fail(`ADMIN_PRIVATE_KEY is required on chain ${chainId}`);
  const account = privateKeyToAccount(key ?? HARDHAT_ACCOUNT_0.privateKey);
  const chain = defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl) });
  const walletClient = createWalletClient({ account, chain, transport: http(rpcUrl) });
  const { implementation } = await upgradeToV2({
    walletClient,
    publicClient,
    proxy: deployment.referralRewards,
    approvers,
    enable: values["approvals-on"] === true,
    confirmations: Number(values.confirmations ?? 1),
  });
  writeDeployment(file, { ...deployment, referralRewardsImplementation: implementation });
  console.log(
    `ReferralRewards ${deployment.referralRewards} upgraded to v2 (implementation ${implementation}); ` +
      `approvers ${approvers.join(", ")}; approvals ${values["approvals-on"] ? "ON" : "off (setApprovalsRequired(true) to enable)"}; wrote ${file}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
