/**
 * Gas per payout of `payReferralBatch` (v1) and of `payReferralBatchApproved` (v2, approvals on, one EIP-712
 * signature per batch) against the EVM floor and against one `payReferral` per transaction, on the
 * in-process Hardhat network.
 *
 *   npx hardhat compile && npx tsx scripts/gas.ts
 *
 * The floor per payout is what any contract must spend with a bytes32 dedupe mapping and an ERC-20 mint:
 * 22,100 (dedupe SSTORE, cold, zero → non-zero) + the recipient's balance SSTORE (22,100 to a new holder,
 * 5,000 to an existing one, shared by the run when every payout goes to one recipient) + the ReferralPaid
 * log (375 + 3 topics × 375 + 8 × 64 data bytes) + the Transfer log (375 + 3 × 375 + 8 × 32, shared by a run)
 * + the item's calldata (16 per non-zero byte, 4 per zero byte) + 21,000 / N.
 */
import {
  type Address,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeAbiParameters,
  hexToBytes,
  keccak256,
  type PublicClient,
  stringToBytes,
  type Transport,
  type Chain as ViemChain,
  type WalletClient,
} from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { referralRewardsAbi, referralRewardsV2Abi } from "../src/chain/abi.generated.js";
import { signApproval } from "../src/chain/approvals.js";
import { deployContracts } from "../src/chain/deploy.js";
import { HARDHAT_ACCOUNT_0, HARDHAT_CHAIN_ID, startEmbeddedChain } from "../src/chain/embedded.js";

const SIZES = [1, 10, 100, 200] as const;
// A typical reward: 12.34 tokens (8 non-zero bytes in its 32-byte word).
const AMOUNT = 12_340_000_000_000_000_000n;

type Scenario = "new holders" | "existing holders" | "one recipient";
interface Payout {
  orderRef: `0x${string}`;
  to: Address;
  amount: bigint;
}

let counter = 0;
const nextRef = () => keccak256(stringToBytes(`gas-order-${counter++}`));
const freshAddress = (): Address =>
  `0x${keccak256(stringToBytes(`gas-holder-${counter++}`)).slice(26)}` as Address;

function calldataGas(item: Payout): number {
  const bytes = hexToBytes(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "address" }, { type: "uint256" }],
      [item.orderRef, item.to, item.amount],
    ),
  );
  return bytes.reduce((gas, byte) => gas + (byte === 0 ? 4 : 16), 0);
}

const REFERRAL_PAID_LOG = 375 + 3 * 375 + 8 * 64;
const TRANSFER_LOG = 375 + 3 * 375 + 8 * 32;

function floorPerPayout(scenario: Scenario, items: Payout[]): number {
  const n = items.length;
  const balance = scenario === "new holders" ? 22_100 : scenario === "existing holders" ? 5_000 : 22_100 / n;
  const transfer = scenario === "one recipient" ? TRANSFER_LOG / n : TRANSFER_LOG;
  const calldata = items.reduce((gas, item) => gas + calldataGas(item), 0) / n;
  return 22_100 + balance + REFERRAL_PAID_LOG + transfer + calldata + 21_000 / n;
}

async function main(): Promise<void> {
  const embedded = await startEmbeddedChain();
  const chain = defineChain({
    id: HARDHAT_CHAIN_ID,
    name: "gas",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["http://127.0.0.1/embedded"] } },
  });
  const account = privateKeyToAccount(HARDHAT_ACCOUNT_0.privateKey);
  const publicClient: PublicClient<Transport, ViemChain> = createPublicClient({
    chain,
    transport: embedded.transport,
    pollingInterval: 20,
  });
  const walletClient: WalletClient<Transport, ViemChain, PrivateKeyAccount> = createWalletClient({
    account,
    chain,
    transport: embedded.transport,
    pollingInterval: 20,
  });
  // Caps off (0 = unlimited): the measurement is about the payout path, not the limits.
  const caps = { periodCap: 0n, periodLength: 86_400, maxPayout: 0n };
  const base = { walletClient, publicClient, admin: account.address, operator: account.address, ...caps };
  const { referralRewards } = await deployContracts(base);
  // v2 with approvals on; the approver is Hardhat account #1, a key the operator does not hold.
  const approver = privateKeyToAccount(embedded.accounts[1]!.privateKey);
  const v2 = await deployContracts({
    ...base,
    v2: { approvers: [approver.address], approvalsRequired: true },
  });

  let batchId = 0n;
  const mined = async (hash: `0x${string}`): Promise<bigint> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error("batch reverted");
    return receipt.gasUsed;
  };
  const payBatch = async (items: Payout[]): Promise<bigint> =>
    mined(
      await walletClient.writeContract({
        address: referralRewards,
        abi: referralRewardsAbi,
        functionName: "payReferralBatch",
        args: [items, ++batchId],
        gas: 16_000_000n,
      }),
    );
  const payApproved = async (items: Payout[]): Promise<bigint> => {
    const id = ++batchId;
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
    const approval = await signApproval(approver, {
      chainId: HARDHAT_CHAIN_ID,
      contract: v2.referralRewards,
      payouts: items,
      batchId: id,
      deadline,
    });
    return mined(
      await walletClient.writeContract({
        address: v2.referralRewards,
        abi: referralRewardsV2Abi,
        functionName: "payReferralBatchApproved",
        args: [items, id, deadline, approval.approver, approval.signature],
        gas: 16_000_000n,
      }),
    );
  };
  const paySingle = async (item: Payout): Promise<bigint> =>
    mined(
      await walletClient.writeContract({
        address: referralRewards,
        abi: referralRewardsAbi,
        functionName: "payReferral",
        args: [item.orderRef, item.to, item.amount],
      }),
    );
  // Warm the contracts' one-time state (period slot, total supply, the first approval bitmap word) so every
  // row measures steady state.
  await payBatch([{ orderRef: nextRef(), to: freshAddress(), amount: AMOUNT }]);
  await payApproved([{ orderRef: nextRef(), to: freshAddress(), amount: AMOUNT }]);

  const single: Record<Scenario, number> = {
    "new holders": Number(await paySingle({ orderRef: nextRef(), to: freshAddress(), amount: AMOUNT })),
    "existing holders": 0,
    "one recipient": 0,
  };
  const holder = freshAddress();
  await paySingle({ orderRef: nextRef(), to: holder, amount: AMOUNT });
  single["existing holders"] = Number(await paySingle({ orderRef: nextRef(), to: holder, amount: AMOUNT }));
  single["one recipient"] = single["existing holders"];

  const rows: string[] = [
    "| scenario | N | floor / payout | v1 batch / payout | v1 / floor | v2 approved / payout | v2 / floor | v2 / v1 | 1 payReferral per tx (v1) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const fmt = (gas: number) => Math.round(gas).toLocaleString("en-US");
  const scenarios: Scenario[] = ["new holders", "existing holders", "one recipient"];
  for (const scenario of scenarios) {
    for (const n of SIZES) {
      // The same recipients (so the same balance-slot costs) on v1 and on v2, with fresh order refs each.
      let recipients: Address[];
      if (scenario === "one recipient") {
        const to = freshAddress();
        recipients = Array.from({ length: n }, () => to);
      } else {
        recipients = Array.from({ length: n }, () => freshAddress());
      }
      const batch = () => recipients.map((to) => ({ orderRef: nextRef(), to, amount: AMOUNT }));
      if (scenario === "existing holders") {
        await payBatch(batch());
        await payApproved(batch());
      }
      const items = batch();
      const v1 = Number(await payBatch(items)) / n;
      const approved = Number(await payApproved(batch())) / n;
      const floor = floorPerPayout(scenario, items);
      rows.push(
        `| ${scenario} | ${n} | ${fmt(floor)} | ${fmt(v1)} | ${(v1 / floor).toFixed(3)}× | ${fmt(approved)} | ${(approved / floor).toFixed(3)}× | ${(approved / v1).toFixed(3)}× | ${single[scenario].toLocaleString("en-US")} |`,
      );
    }
  }
  console.log(rows.join("\n"));
  await embedded.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
