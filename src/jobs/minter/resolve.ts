import type { Hex } from "viem";
import { referralRewardsAbi } from "../../chain/abi.generated.js";
import { type MinterContext, rpc } from "./context.js";
import { markMinted } from "./mark.js";
import type { ClaimedReward } from "./types.js";

/** `paidOrders` reads in flight at once when a batch is checked against the chain. */
const PAID_READS = 25;

/** The ReferralPaid log of an orderRef: first at the block `paidOrders` packs, else a full scan. */
async function paidLog(ctx: MinterContext, orderRef: Hex, word: bigint) {
  const { chain } = ctx;
  const hinted = (word >> 64n) & 0xffff_ffff_ffff_ffffn;
  const ranges: { fromBlock: bigint; toBlock: bigint | "latest" }[] = [];
  if (hinted >= chain.deployBlock) ranges.push({ fromBlock: hinted, toBlock: hinted });
  ranges.push({ fromBlock: chain.deployBlock, toBlock: "latest" });
  for (const range of ranges) {
    const logs = await rpc(ctx, "getContractEvents", () =>
      chain.publicClient.getContractEvents({
        address: ctx.contract,
        abi: referralRewardsAbi,
        eventName: "ReferralPaid",
        args: { orderRef },
        ...range,
      }),
    );
    if (logs[0]) return logs[0];
  }
  return undefined;
}

/** The `paidOrders` word of each reward (0 = unpaid), PAID_READS storage reads at a time. */
async function paidWords(ctx: MinterContext, rewards: ClaimedReward[]): Promise<bigint[]> {
  // One round trip each, no multicall contract needed.
  const words: bigint[] = [];
  for (let from = 0; from < rewards.length; from += PAID_READS) {
    const chunk = rewards.slice(from, from + PAID_READS);
    words.push(
      ...(await Promise.all(
        chunk.map((reward) =>
          rpc(ctx, "paidOrders", () =>
            ctx.chain.publicClient.readContract({
              address: ctx.contract,
              abi: referralRewardsAbi,
              functionName: "paidOrders",
              args: [reward.order_ref_hash as Hex],
            }),
          ),
        ),
      )),
    );
  }
  return words;
}

/** Marks rewards minted from the chain's own record of their payment; returns those still unpaid. */
export async function resolveFromChain(
  ctx: MinterContext,
  batchId: bigint,
  rewards: ClaimedReward[],
): Promise<ClaimedReward[]> {
  const unpaid: ClaimedReward[] = [];
  const words = await paidWords(ctx, rewards);
  for (const [index, reward] of rewards.entries()) {
    const orderRef = reward.order_ref_hash as Hex;
    const word = words[index]!;
    if (word === 0n) {
      unpaid.push(reward);
      continue;
    }
    const log = await paidLog(ctx, orderRef, word);
    if (!log) {
      // Paid per storage but no log visible (a lagging node): keep it out of any new transaction.
      throw new Error(`reward ${reward.id} is paid on-chain but its ReferralPaid log is not visible yet`);
    }
    await markMinted(ctx, batchId, reward.id, log);
  }
  return unpaid;
}
