/**
 * Gas per payout of `payReferralBatch` against the EVM floor and against one `payReferral` per transaction,
 * on the in-process Hardhat network.
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
import { referralRewardsAbi } from "../src/chain/abi.generated.js";
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
  const { referralRewards } = await deployContracts({
    walletClient,
    publicClient,
    admin: account.address,
    operator: account.address,
    periodCap: 0n,
    periodLength: 86_400,
    maxPayout: 0n,
  });

  let batchId = 0n;
  const payBatch = async (items: Payout[]): Promise<bigint> => {
    const hash = await walletClient.writeContract({
      address: referralRewards,
      abi: referralRewardsAbi,
      functionName: "payReferralBatch",
      args: [items, ++batchId],
      gas: 16_000_000n,
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error("batch reverted");
    return receipt.gasUsed;
  };
  const paySingle = async (item: Payout): Promise<bigint> => {
    const hash = await walletClient.writeContract({
      address: referralRewards,
      abi: referralRewardsAbi,
      functionName: "payReferral",
      args: [item.orderRef, item.to, item.amount],
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error("payReferral reverted");
    return receipt.gasUsed;
  };
  // Warm the contracts' one-time state (period slot, total supply) so every row measures steady state.
  await payBatch([{ orderRef: nextRef(), to: freshAddress(), amount: AMOUNT }]);

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
    "| scenario | N | batch gas / payout | floor / payout | batch / floor | 1 payReferral per tx | batch / single-tx |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  const scenarios: Scenario[] = ["new holders", "existing holders", "one recipient"];
  for (const scenario of scenarios) {
    for (const n of SIZES) {
      let items: Payout[];
      if (scenario === "one recipient") {
        const to = freshAddress();
        items = Array.from({ length: n }, () => ({ orderRef: nextRef(), to, amount: AMOUNT }));
      } else {
        items = Array.from({ length: n }, () => ({
          orderRef: nextRef(),
          to: freshAddress(),
          amount: AMOUNT,
        }));
        if (scenario === "existing holders") {
          await payBatch(items.map((item) => ({ ...item, orderRef: nextRef() })));
        }
      }
      const perPayout = Number(await payBatch(items)) / n;
      const floor = floorPerPayout(scenario, items);
      rows.push(
        `| ${scenario} | ${n} | ${Math.round(perPayout).toLocaleString("en-US")} | ${Math.round(floor).toLocaleString("en-US")} | ${(perPayout / floor).toFixed(3)}× | ${single[scenario].toLocaleString("en-US")} | ${(perPayout / single[scenario]).toFixed(3)}× |`,
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
