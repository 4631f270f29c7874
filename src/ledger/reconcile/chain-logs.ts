import { referralRewardsAbi } from "../../chain/abi.generated.js";
import type { Chain } from "../../chain/index.js";

/** Most blocks one `eth_getLogs` asks for: hosted RPCs refuse wide ranges (commonly 2k–10k blocks). */
export const LOG_BLOCK_WINDOW = 2000n;

/** The `ReferralPaid` logs of blocks [from, to], fetched window by window. */
export async function referralPaidLogs(chain: Chain, from: bigint, to: bigint, window = LOG_BLOCK_WINDOW) {
  const logs = [];
  for (let start = from; start <= to; start += window) {
    const end = start + window - 1n < to ? start + window - 1n : to;
    logs.push(
      ...(await chain.publicClient.getContractEvents({
        address: chain.addresses.referralRewards,
        abi: referralRewardsAbi,
        eventName: "ReferralPaid",
        fromBlock: start,
        toBlock: end,
      })),
    );
  }
  return logs;
}

export type ReferralPaidLog = Awaited<ReturnType<typeof referralPaidLogs>>[number];
