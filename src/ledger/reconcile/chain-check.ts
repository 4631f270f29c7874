import type { Reward } from "../../db/schema.js";
import type { ReconcileCheck } from "../reconcile.js";
import type { ReferralPaidLog } from "./chain-logs.js";

type Miss = (check: ReconcileCheck, subject: string, detail: string) => void;
type ChainReward = Pick<
  Reward,
  "id" | "status" | "order_ref_hash" | "amount_wei" | "wallet_address" | "tx_hash"
>;

/**
 * DB ↔ chain over the `logs` given: each log belongs to a known reward that is minted (or minting),
 * no orderRef is paid twice among them, and each of `minted` (minted rows whose log must be among
 * `logs`) has its log with the same amount, recipient and transaction. `rewards` must hold the
 * reward of every log's orderRef that the database knows.
 */
export function checkChainLogs(
  logs: readonly ReferralPaidLog[],
  rewards: readonly ChainReward[],
  minted: readonly ChainReward[],
  miss: Miss,
): void {
  const byRef = new Map<string, ReferralPaidLog[]>();
  for (const log of logs) {
    const ref = (log.args.orderRef ?? "").toLowerCase();
    const list = byRef.get(ref) ?? [];
    if (
      !list.some((other) => other.transactionHash === log.transactionHash && other.logIndex === log.logIndex)
    )
      list.push(log);
    byRef.set(ref, list);
  }
  const rewardByHash = new Map(rewards.map((r) => [r.order_ref_hash.toLowerCase(), r]));
  for (const [ref, list] of byRef) {
    if (list.length > 1) miss("chain", `orderRef ${ref}`, `paid ${list.length} times on chain`);
    const reward = rewardByHash.get(ref);
    if (!reward) miss("chain", `orderRef ${ref}`, "paid on chain but unknown to the database");
    else if (reward.status !== "minted" && reward.status !== "minting") {
      miss("chain", `reward ${reward.id}`, `paid on chain but ${reward.status} in the database`);
    }
  }
  for (const reward of minted) {
    if (reward.status !== "minted") continue;
    const log = byRef.get(reward.order_ref_hash.toLowerCase())?.[0];
    if (!log) {
      miss("chain", `reward ${reward.id}`, "minted in the database but no ReferralPaid log on chain");
      continue;
    }
    if (log.args.amount !== BigInt(reward.amount_wei)) {
      miss(
        "chain",
        `reward ${reward.id}`,
        `minted ${reward.amount_wei} wei in the database, ${log.args.amount} on chain`,
      );
    }
    if ((log.args.to ?? "").toLowerCase() !== (reward.wallet_address ?? "").toLowerCase()) {
      miss(
        "chain",
        `reward ${reward.id}`,
        `paid to ${log.args.to} on chain, ${reward.wallet_address} in the database`,
      );
    }
    if (reward.tx_hash && log.transactionHash.toLowerCase() !== reward.tx_hash.toLowerCase()) {
      miss(
        "chain",
        `reward ${reward.id}`,
        `tx ${reward.tx_hash} in the database, ${log.transactionHash} on chain`,
      );
    }
  }
}
