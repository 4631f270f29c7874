import { sql } from "kysely";
import type { Chain } from "../chain/index.js";
import type { DbOrTx } from "../db/connect.js";
import { checkChainLogs } from "./reconcile/chain-check.js";
import { referralPaidLogs } from "./reconcile/chain-logs.js";
import { membershipMismatches } from "./reconcile/memberships.js";
import { checkOrder, type SettlementSums } from "./reconcile/order-check.js";

/**
 * Reconciliation: re-derives every figure the ledger keeps twice and names each disagreement.
 *
 * - journal_balance: every journal transaction sums to zero per asset.
 * - refunds: order.amount_refunded = Σ order_refunds ≤ amount_paid.
 * - settlement_refunds: each settlement's effective amounts (row + adjustments) equal the paid-time
 *   amounts reduced by `remainingAfterOrderRefunds` of the order's cumulative refunds.
 * - rails: per paid order with a reward, reward.fiat_basis − clawed_back_basis = Σ effective
 *   settlement referral commission (the dual-rail invariant, adjusted for refunds).
 * - reward_liability / minted_supply / clawback_debt / vendor_payable: journal account balances equal
 *   the rows they summarize.
 * - minted_excess: what a delivered reward (minted, or delivered by netting) gave above what its order
 *   still entitles (Σ effective settlement commission × rate; a membership: basis − clawed back) is
 *   covered by clawback debt booked against that reward (its `debt` rows less `released` ones).
 * - memberships: each membership payment's refunds and its reward's basis (reconcile/memberships.ts).
 * - chain: each minted row has exactly one `ReferralPaid` log with its orderRef, recipient and amount;
 *   each log belongs to a minted (or in-flight) row; no orderRef is paid twice.
 */

export type ReconcileCheck =
  | "journal_balance"
  | "refunds"
  | "settlement_refunds"
  | "rails"
  | "reward_liability"
  | "minted_supply"
  | "clawback_debt"
  | "vendor_payable"
  | "minted_excess"
  | "memberships"
  | "chain";

export interface ReconcileMismatch {
  check: ReconcileCheck;
  subject: string;
  detail: string;
}

export interface ReconcileReport {
  ok: boolean;
  mismatches: ReconcileMismatch[];
  checked: {
    journalTransactions: number;
    orders: number;
    settlements: number;
    rewards: number;
    referrers: number;
    vendors: number;
    chainLogs: number | null;
  };
  at: string;
}

const LIVE_REWARD = new Set(["pending_approval", "approved", "minting", "held", "failed"]);

export async function reconcile(db: DbOrTx, chain?: Chain | null): Promise<ReconcileReport> {
  const mismatches: ReconcileMismatch[] = [];
  const miss = (check: ReconcileCheck, subject: string, detail: string) =>
    mismatches.push({ check, subject, detail });

  // 1. Journal balance per transaction and asset.
  const unbalanced = await sql<{ txn_id: string; asset: string; total: string }>`
    SELECT txn_id::text AS txn_id, asset, sum(amount)::text AS total
    FROM journal_entries GROUP BY txn_id, asset HAVING sum(amount) <> 0`.execute(db);
  for (const row of unbalanced.rows) {
    miss("journal_balance", `txn ${row.txn_id}`, `${row.asset} sums to ${row.total}, not 0`);
  }
  const txnCount = await sql<{
    n: string;
  }>`SELECT count(DISTINCT txn_id)::text AS n FROM journal_entries`.execute(db);
  const balances = new Map<string, bigint>();
  const balanceRows = await sql<{ account: string; asset: string; total: string }>`
    SELECT account, asset, sum(amount)::text AS total FROM journal_entries GROUP BY account, asset`.execute(
    db,
  );
  for (const row of balanceRows.rows) balances.set(`${row.account}|${row.asset}`, BigInt(row.total));
  const balance = (account: string, asset: string) => balances.get(`${account}|${asset}`) ?? 0n;

  // 2. Refund totals, settlements and rails per order.
  const orders = await db
    .selectFrom("orders")
    .select([
      "order_reference",
      "amount_paid",
      "amount_refunded",
      "status",
      "currency",
      "gross_amount",
      "referral_applied",
    ])
    .where("status", "<>", "created")
    .execute();
  const refundSums = new Map(
    (
      await db
        .selectFrom("order_refunds")
        .select(["order_reference", sql<string>`sum(amount)::text`.as("total")])
        .groupBy("order_reference")
        .execute()
    ).map((row) => [row.order_reference, BigInt(row.total)]),
  );
  const settlements = await sql<SettlementSums>`
    SELECT s.id::text, s.order_reference, s.vendor_id, s.currency, s.status,
           s.gross::text, s.platform_fee::text, s.referral_commission::text, s.net::text,
           coalesce(sum(a.gross_delta), 0)::text AS adj_gross,
           coalesce(sum(a.platform_fee_delta), 0)::text AS adj_fee,
           coalesce(sum(a.referral_commission_delta), 0)::text AS adj_commission,
           coalesce(sum(a.net_delta), 0)::text AS adj_net,
           coalesce(sum(a.net_delta) FILTER (WHERE p.adjustment_id IS NULL), 0)::text AS unnetted_net
    FROM settlements s
    LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
    LEFT JOIN payout_adjustments p ON p.adjustment_id = a.id
    GROUP BY s.id`.execute(db);
  const byOrder = new Map<string, typeof settlements.rows>();
  for (const row of settlements.rows) {
    const list = byOrder.get(row.order_reference) ?? [];
    list.push(row);
    byOrder.set(row.order_reference, list);
  }
  const rewards = await db.selectFrom("referral_rewards").selectAll().execute();
  const orderRewards = new Map(
    rewards.filter((r) => r.source === "order").map((r) => [r.order_reference, r]),
  );

  for (const order of orders) {
    checkOrder(
      order,
      refundSums.get(order.order_reference) ?? 0n,
      byOrder.get(order.order_reference) ?? [],
      orderRewards.get(order.order_reference),
      miss,
    );
  }

  // 3. Journal accounts vs rows: reward liability and clawback debt per referrer, minted supply.
  const referrers = new Set<string>(rewards.map((r) => r.referrer_member_id));
  const liability = new Map<string, bigint>();
  let minted = 0n;
  for (const reward of rewards) {
    if (LIVE_REWARD.has(reward.status)) {
      liability.set(
        reward.referrer_member_id,
        (liability.get(reward.referrer_member_id) ?? 0n) + BigInt(reward.amount_wei),
      );
    }
    if (reward.status === "minted") minted += BigInt(reward.amount_wei);
  }
  const debts = await sql<{ referrer_member_id: string; total: string; last: string; min_after: string }>`
    SELECT referrer_member_id, sum(amount_wei)::text AS total,
           (array_agg(debt_after ORDER BY id DESC))[1]::text AS last, min(debt_after)::text AS min_after
    FROM clawbacks GROUP BY referrer_member_id`.execute(db);
  const debtOf = new Map(debts.rows.map((row) => [row.referrer_member_id, row]));
  for (const row of debts.rows) referrers.add(row.referrer_member_id);
  for (const referrer of referrers) {
    const owed = liability.get(referrer) ?? 0n;
    const journalOwed = -balance(`liability:rewards:${referrer}`, "WEI");
    if (owed !== journalOwed) {
      miss(
        "reward_liability",
        `referrer ${referrer}`,
        `unminted rewards ${owed} wei but journal liability ${journalOwed}`,
      );
    }
    const debt = debtOf.get(referrer);
    const total = debt ? BigInt(debt.total) : 0n;
    const journalDebt = balance(`receivable:clawback:${referrer}`, "WEI");
    if (debt && (BigInt(debt.last) !== total || BigInt(debt.min_after) < 0n)) {
      miss(
        "clawback_debt",
        `referrer ${referrer}`,
        `running balance ${debt.last} (min ${debt.min_after}) but rows sum to ${total}`,
      );
    }
    if (total !== journalDebt) {
      miss(
        "clawback_debt",
        `referrer ${referrer}`,
        `clawback rows ${total} wei but journal receivable ${journalDebt}`,
      );
    }
  }
  if (-balance("supply:minted", "WEI") !== minted) {
    miss(
      "minted_supply",
      "supply:minted",
      `minted rows ${minted} wei but journal supply ${-balance("supply:minted", "WEI")}`,
    );
  }

  // 3b. Delivered above the remaining entitlement: only as far as clawback debt of that reward covers it.
  const commissionOf = new Map<string, bigint>();
  for (const s of settlements.rows) {
    commissionOf.set(
      s.order_reference,
      (commissionOf.get(s.order_reference) ?? 0n) + BigInt(s.referral_commission) + BigInt(s.adj_commission),
    );
  }
  const coveredRows = await sql<{ reward_id: string; total: string }>`
    SELECT reward_id::text AS reward_id, sum(amount_wei)::text AS total FROM clawbacks
    WHERE kind IN ('debt', 'released') GROUP BY reward_id`.execute(db);
  const coveredOf = new Map(coveredRows.rows.map((row) => [row.reward_id, BigInt(row.total)]));
  for (const reward of rewards) {
    const netted = BigInt(reward.clawback_netted_wei);
    const delivered = reward.status === "minted" || (reward.status === "cancelled" && netted > 0n);
    if (!delivered) continue;
    const rate = BigInt(reward.wei_per_minor_unit);
    const basis =
      reward.source === "order" && commissionOf.has(reward.order_reference)
        ? commissionOf.get(reward.order_reference)!
        : reward.fiat_basis - reward.clawed_back_basis;
    const entitled = (basis > 0n ? basis : 0n) * rate;
    const given = (reward.status === "minted" ? BigInt(reward.amount_wei) : 0n) + netted;
    const excess = given - entitled;
    const covered = coveredOf.get(reward.id.toString()) ?? 0n;
    if (excess > covered) {
      miss(
        "minted_excess",
        `reward ${reward.id}`,
        `delivered ${given} wei for ${reward.order_reference}, which now entitles ${entitled}: ${excess} above it, clawback debt covers ${covered}`,
      );
    }
  }

  // 4. Vendor payables: what is still owed (not paid out) plus un-netted adjustments of paid-out rows.
  const owedToVendor = new Map<string, bigint>();
  for (const s of settlements.rows) {
    const key = `payable:vendor:${s.vendor_id}|${s.currency}`;
    const paidOut = s.status === "in_payout" || s.status === "paid";
    const owed = paidOut ? BigInt(s.unnetted_net) : BigInt(s.net) + BigInt(s.adj_net);
    owedToVendor.set(key, (owedToVendor.get(key) ?? 0n) + owed);
  }
  for (const key of new Set([
    ...owedToVendor.keys(),
    ...[...balances.keys()].filter((k) => k.startsWith("payable:vendor:")),
  ])) {
    const [account, asset] = key.split("|") as [string, string];
    const owed = owedToVendor.get(key) ?? 0n;
    if (-balance(account, asset) !== owed) {
      miss(
        "vendor_payable",
        `${account} ${asset}`,
        `settlements owe ${owed} but the journal says ${-balance(account, asset)}`,
      );
    }
  }

  // 4b. Memberships: refunds per period and the period's reward (reconcile/memberships.ts).
  for (const m of await membershipMismatches(db)) miss("memberships", m.subject, m.detail);

  // 5. DB ↔ chain.
  let chainLogs: number | null = null;
  if (chain) {
    const logs = await referralPaidLogs(chain, chain.deployBlock, await chain.publicClient.getBlockNumber());
    chainLogs = logs.length;
    checkChainLogs(logs, rewards, rewards, miss);
  }

  return {
    ok: mismatches.length === 0,
    mismatches,
    checked: {
      journalTransactions: Number(txnCount.rows[0]?.n ?? 0),
      orders: orders.length,
      settlements: settlements.rows.length,
      rewards: rewards.length,
      referrers: referrers.size,
      vendors: new Set(settlements.rows.map((s) => s.vendor_id)).size,
      chainLogs,
    },
    at: new Date().toISOString(),
  };
}
