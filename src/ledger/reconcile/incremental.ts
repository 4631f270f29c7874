import { sql } from "kysely";
import type { Chain } from "../../chain/index.js";
import type { DbOrTx } from "../../db/connect.js";
import type { Reward } from "../../db/schema.js";
import type { ReconcileCheck, ReconcileMismatch } from "../reconcile.js";
import { checkChainLogs } from "./chain-check.js";
import { LOG_BLOCK_WINDOW, referralPaidLogs } from "./chain-logs.js";
import { checkOrder, type SettlementSums } from "./order-check.js";

/**
 * Incremental reconciliation: the checks of `reconcile` over what changed since `windowFrom`.
 *
 * The window is by transaction start, not by sequence id (ids commit out of order): journal rows are
 * stamped with their transaction's `now()`, and a run's `cutoff` is the earlier of its own start and
 * the start of the oldest transaction then in flight in the database. Every row of a transaction that
 * began before the cutoff was committed (or rolled back) when the run looked, so the next run, which
 * checks rows stamped at or after this cutoff, misses nothing; what began after it is checked twice,
 * which changes nothing.
 *
 * - journal_balance of every journal transaction with a row in the window;
 * - refunds, settlement_refunds, rails of every order with a journal row in the window;
 * - reward_liability and clawback_debt of every referrer whose accounts moved in the window;
 * - vendor_payable of every vendor whose payable moved, against the vendor day rollup;
 * - chain: the `ReferralPaid` logs of the blocks after the last run's block, window by window
 *   (`LOG_BLOCK_WINDOW`), and the log of every reward minted in the window, read at its block.
 * Checks over everything (minted_supply, minted_excess, old rows) are `reconcile --full`.
 *
 * Every list goes to the server as one array parameter: a window can hold more references than the
 * protocol's 65,535 parameters (an `IN` of 34,465 orders failed at 100k orders).
 */
export interface IncrementalResult {
  mismatches: ReconcileMismatch[];
  checked: Record<string, number | null>;
  toBlock: bigint | null;
}

const LIVE = ["pending_approval", "approved", "minting", "held", "failed"];

export async function reconcileWindow(
  db: DbOrTx,
  chain: Chain | null | undefined,
  window: { from: Date; fromBlock: bigint | null },
): Promise<IncrementalResult> {
  const mismatches: ReconcileMismatch[] = [];
  const miss = (check: ReconcileCheck, subject: string, detail: string) =>
    mismatches.push({ check, subject, detail });
  const changed = await sql<{
    txn_id: string;
    order_reference: string | null;
    account: string;
    asset: string;
  }>`
    SELECT DISTINCT txn_id::text AS txn_id, order_reference, account, asset
    FROM journal_entries WHERE created_at >= ${window.from}`.execute(db);
  const txns = [...new Set(changed.rows.map((row) => row.txn_id))];
  const refs = [
    ...new Set(changed.rows.flatMap((row) => (row.order_reference ? [row.order_reference] : []))),
  ];
  const accounts = new Set(changed.rows.map((row) => row.account));

  // Journal balance of the changed transactions (all their rows, also those before the window).
  if (txns.length > 0) {
    const unbalanced = await sql<{ txn_id: string; asset: string; total: string }>`
      SELECT txn_id::text AS txn_id, asset, sum(amount)::text AS total FROM journal_entries
      WHERE txn_id = ANY(${txns}::uuid[]) GROUP BY txn_id, asset HAVING sum(amount) <> 0`.execute(db);
    for (const row of unbalanced.rows) {
      miss("journal_balance", `txn ${row.txn_id}`, `${row.asset} sums to ${row.total}, not 0`);
    }
  }

  // Orders touched: refunds, settlements and both rails.
  const orders = refs.length
    ? await db
        .selectFrom("orders")
        .select(["order_reference", "amount_paid", "amount_refunded", "gross_amount", "referral_applied"])
        .where(sql<boolean>`order_reference = ANY(${refs}::text[])`)
        .where("status", "<>", "created")
        .execute()
    : [];
  if (orders.length > 0) {
    const paidRefs = orders.map((o) => o.order_reference);
    const refunds = await sql<{ order_reference: string; total: string }>`
      SELECT order_reference, sum(amount)::text AS total FROM order_refunds
      WHERE order_reference = ANY(${paidRefs}::text[]) GROUP BY order_reference`.execute(db);
    const refundOf = new Map(refunds.rows.map((row) => [row.order_reference, BigInt(row.total)]));
    const settlements = await sql<SettlementSums>`
      SELECT s.id::text, s.order_reference, s.vendor_id, s.currency, s.status,
             s.gross::text, s.platform_fee::text, s.referral_commission::text, s.net::text,
             coalesce(sum(a.gross_delta), 0)::text AS adj_gross,
             coalesce(sum(a.platform_fee_delta), 0)::text AS adj_fee,
             coalesce(sum(a.referral_commission_delta), 0)::text AS adj_commission,
             coalesce(sum(a.net_delta), 0)::text AS adj_net, '0' AS unnetted_net
      FROM settlements s LEFT JOIN settlement_adjustments a ON a.settlement_id = s.id
      WHERE s.order_reference = ANY(${paidRefs}::text[]) GROUP BY s.id`.execute(db);
    const byOrder = new Map<string, SettlementSums[]>();
    for (const row of settlements.rows) {
      byOrder.set(row.order_reference, [...(byOrder.get(row.order_reference) ?? []), row]);
    }
    const rewards = await db
      .selectFrom("referral_rewards")
      .select(["id", "order_reference", "status", "fiat_basis", "clawed_back_basis"])
      .where(sql<boolean>`order_reference = ANY(${paidRefs}::text[])`)
      .where("source", "=", "order")
      .execute();
    const rewardOf = new Map(rewards.map((r) => [r.order_reference, r]));
    for (const order of orders) {
      const ref = order.order_reference;
      checkOrder(order, refundOf.get(ref) ?? 0n, byOrder.get(ref) ?? [], rewardOf.get(ref), miss);
    }
  }

  const referrers = [
    ...new Set(
      [...accounts].flatMap((account) => {
        const match = /^(?:liability:rewards|receivable:clawback):(.+)$/.exec(account);
        return match ? [match[1]!] : [];
      }),
    ),
  ];
  await checkReferrers(db, referrers, miss);
  const vendors = [...accounts].flatMap((a) => (a.startsWith("payable:vendor:") ? [a.slice(15)] : []));
  await checkVendorPayables(db, [...new Set(vendors)], miss);
  const chainResult = chain ? await checkChainWindow(db, chain, window, miss) : null;

  return {
    mismatches,
    checked: {
      journalTransactions: txns.length,
      orders: orders.length,
      referrers: referrers.length,
      vendors: new Set(vendors).size,
      chainLogs: chainResult?.logs ?? null,
    },
    toBlock: chainResult?.toBlock ?? null,
  };
}

type Miss = (check: ReconcileCheck, subject: string, detail: string) => void;

/** reward_liability and clawback_debt of the given referrers. */
async function checkReferrers(db: DbOrTx, referrers: string[], miss: Miss) {
  if (referrers.length === 0) return;
  const rows = await sql<{
    referrer: string;
    owed: string;
    journal_owed: string;
    debt: string;
    last: string | null;
    min_after: string | null;
    journal_debt: string;
  }>`
    SELECT r.referrer,
      (SELECT coalesce(sum(amount_wei) FILTER (WHERE status = ANY(${LIVE}::text[])), 0) FROM referral_rewards
        WHERE referrer_member_id = r.referrer)::text AS owed,
      (SELECT coalesce(-sum(amount), 0) FROM journal_entries
        WHERE account = 'liability:rewards:' || r.referrer AND asset = 'WEI')::text AS journal_owed,
      (SELECT coalesce(sum(amount_wei), 0) FROM clawbacks WHERE referrer_member_id = r.referrer)::text AS debt,
      (SELECT debt_after FROM clawbacks WHERE referrer_member_id = r.referrer ORDER BY id DESC LIMIT 1)::text AS last,
      (SELECT min(debt_after) FROM clawbacks WHERE referrer_member_id = r.referrer)::text AS min_after,
      (SELECT coalesce(sum(amount), 0) FROM journal_entries
        WHERE account = 'receivable:clawback:' || r.referrer AND asset = 'WEI')::text AS journal_debt
    FROM unnest(${referrers}::text[]) AS r(referrer)`.execute(db);
  for (const row of rows.rows) {
    const subject = `referrer ${row.referrer}`;
    if (row.owed !== row.journal_owed) {
      miss(
        "reward_liability",
        subject,
        `unminted rewards ${row.owed} wei but journal liability ${row.journal_owed}`,
      );
    }
    if (row.last !== null && (row.last !== row.debt || BigInt(row.min_after ?? "0") < 0n)) {
      miss(
        "clawback_debt",
        subject,
        `running balance ${row.last} (min ${row.min_after}) but rows sum to ${row.debt}`,
      );
    }
    if (row.debt !== row.journal_debt) {
      miss(
        "clawback_debt",
        subject,
        `clawback rows ${row.debt} wei but journal receivable ${row.journal_debt}`,
      );
    }
  }
}

/**
 * vendor_payable of the given vendors: the journal's payable per currency against what the vendor day
 * rollup says is owed (effective net of settlements not paid out) plus un-netted adjustments of paid-out
 * ones — so this also checks the rollup against the journal.
 */
async function checkVendorPayables(db: DbOrTx, vendors: string[], miss: Miss) {
  if (vendors.length === 0) return;
  const rows = await sql<{ vendor_id: string; currency: string; owed: string; journal: string }>`
    WITH owed AS (
      SELECT vendor_id, currency, sum(net) AS owed FROM (
        SELECT vendor_id, currency, net FROM vendor_day_rollup
          WHERE vendor_id = ANY(${vendors}::text[]) AND status NOT IN ('in_payout', 'paid')
        UNION ALL SELECT vendor_id, currency, net FROM vendor_day_deltas
          WHERE vendor_id = ANY(${vendors}::text[]) AND status NOT IN ('in_payout', 'paid')
        UNION ALL SELECT a.vendor_id, a.currency, a.net_delta FROM settlement_adjustments a
          JOIN settlements s ON s.id = a.settlement_id
          LEFT JOIN payout_adjustments p ON p.adjustment_id = a.id
          WHERE a.vendor_id = ANY(${vendors}::text[]) AND p.adjustment_id IS NULL
            AND s.status IN ('in_payout', 'paid')) o
      GROUP BY vendor_id, currency),
    journal AS (
      SELECT substr(account, 16) AS vendor_id, asset AS currency, -sum(amount) AS journal FROM journal_entries
      WHERE account = ANY(${vendors.map((v) => `payable:vendor:${v}`)}::text[]) GROUP BY account, asset)
    SELECT coalesce(o.vendor_id, j.vendor_id) AS vendor_id, coalesce(o.currency, j.currency) AS currency,
           coalesce(o.owed, 0)::text AS owed, coalesce(j.journal, 0)::text AS journal
    FROM owed o FULL JOIN journal j ON j.vendor_id = o.vendor_id AND j.currency = o.currency`.execute(db);
  for (const row of rows.rows) {
    if (row.owed !== row.journal) {
      miss(
        "vendor_payable",
        `payable:vendor:${row.vendor_id} ${row.currency}`,
        `settlements owe ${row.owed} but the journal says ${row.journal}`,
      );
    }
  }
}

/** The chain side of the window: new blocks' logs, and the logs of rewards minted in the window. */
async function checkChainWindow(
  db: DbOrTx,
  chain: Chain,
  window: { from: Date; fromBlock: bigint | null },
  miss: Miss,
) {
  const toBlock = await chain.publicClient.getBlockNumber();
  const fromBlock = window.fromBlock ?? chain.deployBlock;
  const logs = fromBlock <= toBlock ? await referralPaidLogs(chain, fromBlock, toBlock) : [];
  const minted = (await db
    .selectFrom("referral_rewards")
    .selectAll()
    .where("status", "=", "minted")
    .where("minted_at", ">=", window.from)
    .execute()) as Reward[];
  // A reward marked minted in the window may have its log in a block an earlier run already read.
  const blocks = [
    ...new Set(minted.flatMap((r) => (r.block_number !== null ? [BigInt(r.block_number)] : []))),
  ];
  for (const block of blocks) {
    if (block >= fromBlock && block <= toBlock) continue;
    logs.push(...(await referralPaidLogs(chain, block, block, LOG_BLOCK_WINDOW)));
  }
  const hashes = [...new Set(logs.map((log) => (log.args.orderRef ?? "").toLowerCase()))];
  const known = hashes.length
    ? await db
        .selectFrom("referral_rewards")
        .selectAll()
        .where(sql<boolean>`order_ref_hash = ANY(${hashes}::text[])`)
        .execute()
    : [];
  checkChainLogs(logs, [...known, ...minted], minted, miss);
  return { logs: logs.length, toBlock };
}
