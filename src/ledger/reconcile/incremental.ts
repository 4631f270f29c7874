import { sql } from "kysely";
import type { Chain } from "../../chain/index.js";
import type { DbOrTx } from "../../db/connect.js";
import type { Reward } from "../../db/schema.js";
import type { ReconcileCheck, ReconcileMismatch } from "../reconcile.js";
import { checkChainLogs } from "./chain-check.js";
import { LOG_BLOCK_WINDOW, referralPaidLogs } from "./chain-logs.js";
import { readCheckpoint } from "./checkpoint.js";
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
 * - reward_liability and clawback_debt of every referrer whose accounts moved in the window, against
 *   the referrer day rollup;
 * - vendor_payable of every vendor whose payable moved, against the vendor day and netting rollups;
 *   both with the journal side read as the checkpointed balance + the rows since (reconcile/checkpoint.ts),
 *   so a run reads the window's journal rows, not the accounts' history;
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

/**
 * Runs a check whose journal side is the checkpointed balance + the rows stamped since the checkpoint
 * (reconcile/checkpoint.ts). The checkpoint's cutoff goes in as a value so that the planner sees how
 * recent it is and reads the window through journal_entries_created_idx; each row returns the cutoff
 * its statement saw, and a concurrent run that moved the checkpoint in between makes it read again.
 */
async function withCheckpoint<T extends { checkpoint: Date | null }>(
  db: DbOrTx,
  statement: (from: Date | null) => Promise<T[]>,
): Promise<T[]> {
  for (let attempt = 1; ; attempt++) {
    const from = await readCheckpoint(db);
    const rows = await statement(from);
    const moved = rows.some((row) => (row.checkpoint?.getTime() ?? null) !== (from?.getTime() ?? null));
    if (!moved || attempt === 3) return rows;
  }
}

/**
 * Journal balance per account × asset of the given accounts as one CTE body: the checkpoint + the rows
 * stamped at or after it (with no checkpoint, every row). The window is read by its time alone (OFFSET 0
 * keeps the account list out of that scan): given the accounts, the planner may otherwise take the
 * (account, asset) index and read each account's whole history.
 */
const journalBalances = (accounts: string[], from: Date | null) => sql`
  SELECT account, asset, sum(amount) AS balance FROM (
    SELECT account, asset, balance AS amount FROM reconcile_balances WHERE account = ANY(${accounts}::text[])
    UNION ALL
    SELECT account, asset, amount FROM (
      SELECT account, asset, amount FROM journal_entries
      WHERE created_at >= coalesce(${from}::timestamptz, '-infinity') OFFSET 0) w
    WHERE account = ANY(${accounts}::text[])) b
  GROUP BY account, asset`;

/**
 * reward_liability and clawback_debt of the given referrers. What is owed is read from the referrer
 * day rollup + its unfolded deltas (rewards_wei counts every reward not rejected or cancelled,
 * minted_wei the minted ones: the difference is the live rewards), which the reward triggers keep equal
 * to the rows, so a referrer costs its active days instead of all its rewards; the clawback rows are
 * still read per referrer (few: one per refund of a rewarded order).
 */
async function checkReferrers(db: DbOrTx, referrers: string[], miss: Miss) {
  if (referrers.length === 0) return;
  const accounts = referrers.flatMap((r) => [`liability:rewards:${r}`, `receivable:clawback:${r}`]);
  const rows = await withCheckpoint(
    db,
    async (from) =>
      (
        await sql<{
          referrer: string;
          owed: string;
          journal_owed: string;
          debt: string;
          last: string | null;
          min_after: string | null;
          journal_debt: string;
          checkpoint: Date | null;
        }>`
      WITH j AS (${journalBalances(accounts, from)}),
      owed AS (
        SELECT referrer_member_id, sum(rewards_wei - minted_wei) AS owed FROM (
          SELECT referrer_member_id, rewards_wei, minted_wei FROM referrer_day_rollup
            WHERE referrer_member_id = ANY(${referrers}::text[])
          UNION ALL SELECT referrer_member_id, rewards_wei, minted_wei FROM referrer_day_deltas
            WHERE referrer_member_id = ANY(${referrers}::text[])) o
        GROUP BY referrer_member_id)
      SELECT r.referrer, coalesce(o.owed, 0)::text AS owed, coalesce(-jo.balance, 0)::text AS journal_owed,
        coalesce(c.debt, 0)::text AS debt, c.last::text AS last, c.min_after::text AS min_after,
        coalesce(jd.balance, 0)::text AS journal_debt, (SELECT cutoff FROM reconcile_checkpoint) AS checkpoint
      FROM unnest(${referrers}::text[]) AS r(referrer)
      LEFT JOIN owed o ON o.referrer_member_id = r.referrer
      LEFT JOIN j jo ON jo.account = 'liability:rewards:' || r.referrer AND jo.asset = 'WEI'
      LEFT JOIN j jd ON jd.account = 'receivable:clawback:' || r.referrer AND jd.asset = 'WEI'
      LEFT JOIN LATERAL (
        SELECT sum(amount_wei) AS debt, min(debt_after) AS min_after,
               (array_agg(debt_after ORDER BY id DESC))[1] AS last
        FROM clawbacks WHERE referrer_member_id = r.referrer) c ON true`.execute(db)
      ).rows,
  );
  for (const row of rows) {
    const subject = `referrer ${row.referrer}`;
    if (BigInt(row.owed) !== BigInt(row.journal_owed)) {
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
    if (BigInt(row.debt) !== BigInt(row.journal_debt)) {
      miss(
        "clawback_debt",
        subject,
        `clawback rows ${row.debt} wei but journal receivable ${row.journal_debt}`,
      );
    }
  }
}

/**
 * vendor_payable of the given vendors: the journal's payable per currency (checkpoint + window) against
 * what the vendor day rollup says is owed (effective net of settlements not paid out) plus the un-netted
 * adjustments of paid-out ones from the netting rollup (0017) — so this also checks both rollups
 * against the journal.
 */
async function checkVendorPayables(db: DbOrTx, vendors: string[], miss: Miss) {
  if (vendors.length === 0) return;
  const accounts = vendors.map((v) => `payable:vendor:${v}`);
  const rows = await withCheckpoint(
    db,
    async (from) =>
      (
        await sql<{
          vendor_id: string;
          currency: string;
          owed: string;
          journal: string;
          checkpoint: Date | null;
        }>`
      WITH owed AS (
        SELECT vendor_id, currency, sum(net) AS owed FROM (
          SELECT vendor_id, currency, net FROM vendor_day_rollup
            WHERE vendor_id = ANY(${vendors}::text[]) AND status NOT IN ('in_payout', 'paid')
          UNION ALL SELECT vendor_id, currency, net FROM vendor_day_deltas
            WHERE vendor_id = ANY(${vendors}::text[]) AND status NOT IN ('in_payout', 'paid')
          UNION ALL SELECT vendor_id, currency, net FROM vendor_netting_rollup
            WHERE vendor_id = ANY(${vendors}::text[])
          UNION ALL SELECT vendor_id, currency, net FROM vendor_netting_deltas
            WHERE vendor_id = ANY(${vendors}::text[])) o
        GROUP BY vendor_id, currency),
      j AS (${journalBalances(accounts, from)}),
      journal AS (SELECT substr(account, 16) AS vendor_id, asset AS currency, -balance AS journal FROM j)
      SELECT coalesce(o.vendor_id, j.vendor_id) AS vendor_id, coalesce(o.currency, j.currency) AS currency,
             coalesce(o.owed, 0)::text AS owed, coalesce(j.journal, 0)::text AS journal,
             (SELECT cutoff FROM reconcile_checkpoint) AS checkpoint
      FROM owed o FULL JOIN journal j ON j.vendor_id = o.vendor_id AND j.currency = o.currency`.execute(db)
      ).rows,
  );
  for (const row of rows) {
    if (BigInt(row.owed) !== BigInt(row.journal)) {
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
