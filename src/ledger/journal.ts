import { randomUUID } from "node:crypto";
import type { DbOrTx } from "../db/connect.js";
import { AppError } from "../errors.js";

/**
 * The double-entry journal (account plan in docs/ledger.md). Amounts are signed: positive = debit,
 * negative = credit. One business event posts one journal transaction that sums to zero per asset;
 * the database checks that again at commit (a deferred constraint trigger) and refuses UPDATE/DELETE.
 */

/** The account plan. Fiat accounts carry the order currency, reward accounts the asset "WEI". */
export const accounts = {
  /** Money the platform holds from buyers (asset). */
  cash: "cash:platform",
  /** What the platform owes a vendor (liability: credit balance). */
  vendorPayable: (vendorId: string) => `payable:vendor:${vendorId}`,
  platformFeeRevenue: "revenue:platform_fee",
  /** Vendor-funded referral commissions withheld from settlements; they fund rail B. */
  referralCommissionPayable: "payable:referral_commission",
  /** Payment minus order total (amount mismatches) and the rounding residue of proportional refunds. */
  paymentDifference: "suspense:payment_difference",
  membershipRevenue: "revenue:membership",
  /** WEI: the cost of rewards earned. */
  rewardExpense: "expense:referral_rewards",
  /** WEI: tokens owed to a referrer and not minted yet (liability). */
  rewardLiability: (memberId: string) => `liability:rewards:${memberId}`,
  /** WEI: clawback debt a referrer owes back (asset). */
  clawbackReceivable: (memberId: string) => `receivable:clawback:${memberId}`,
  /** WEI: tokens issued on chain. */
  mintedSupply: "supply:minted",
} as const;

export const WEI = "WEI";

export interface Posting {
  account: string;
  asset: string;
  amount: bigint;
}

/** One journal row as `journal_entries` stores it (amount as a decimal string). */
export interface JournalRow {
  txn_id: string;
  event: string;
  order_reference: string | null;
  account: string;
  asset: string;
  amount: string;
}

/**
 * The rows of one balanced journal transaction, not written yet: for callers that insert them as part
 * of a larger statement (`INSERT … SELECT FROM json_populate_recordset`). Lines on one account and
 * asset are summed into one; zero lines are dropped; an empty list means every line was zero.
 * @throws AppError("internal") when the lines do not balance per asset (a bug in the caller).
 */
export function journalRows(input: {
  event: string;
  orderReference?: string | null;
  postings: Posting[];
}): JournalRow[] {
  // Lines on the same account and asset are one line (e.g. the platform fee of several vendors):
  // balances are the same, the journal is smaller.
  const merged = new Map<string, Posting>();
  for (const posting of input.postings) {
    const key = `${posting.account}\u0000${posting.asset}`;
    const line = merged.get(key);
    merged.set(key, line ? { ...line, amount: line.amount + posting.amount } : { ...posting });
  }
  const lines = [...merged.values()].filter((posting) => posting.amount !== 0n);
  const totals = new Map<string, bigint>();
  for (const line of lines) totals.set(line.asset, (totals.get(line.asset) ?? 0n) + line.amount);
  for (const [asset, total] of totals) {
    if (total !== 0n) {
      throw new AppError(
        "internal",
        `journal for ${input.event} does not balance in ${asset}: off by ${total}`,
        {
          details: { event: input.event, orderReference: input.orderReference ?? null },
        },
      );
    }
  }
  const txnId = randomUUID();
  return lines.map((line) => ({
    txn_id: txnId,
    event: input.event,
    order_reference: input.orderReference ?? null,
    account: line.account,
    asset: line.asset,
    amount: line.amount.toString(),
  }));
}

/**
 * Posts one balanced journal transaction in the caller's transaction; zero lines are dropped.
 * Returns the transaction id, or null when every line was zero.
 * @throws AppError("internal") when the lines do not balance per asset (a bug in the caller).
 */
export async function postJournal(
  trx: DbOrTx,
  input: { event: string; orderReference?: string | null; postings: Posting[] },
): Promise<string | null> {
  const rows = journalRows(input);
  if (rows.length === 0) return null;
  await trx.insertInto("journal_entries").values(rows).execute();
  return rows[0]!.txn_id;
}

/**
 * Journal of a reward coming into existence: `grossWei` earned (expense), of which `nettedWei` pays
 * down earlier clawback debt and the rest (`amountWei`) is owed until minted.
 */
export function rewardCreatedPostings(
  referrer: string,
  grossWei: bigint,
  nettedWei: bigint,
  amountWei: bigint,
): Posting[] {
  return [
    { account: accounts.rewardExpense, asset: WEI, amount: grossWei },
    { account: accounts.rewardLiability(referrer), asset: WEI, amount: -amountWei },
    { account: accounts.clawbackReceivable(referrer), asset: WEI, amount: -nettedWei },
  ];
}

/**
 * Posts the mint of a reward: its liability becomes minted supply. Called by the minter in the
 * transaction that marks the row minted, so the journal and the row cannot disagree.
 */
export async function postRewardMinted(trx: DbOrTx, rewardId: bigint): Promise<void> {
  const reward = await trx
    .selectFrom("referral_rewards")
    .select(["order_reference", "referrer_member_id", "amount_wei"])
    .where("id", "=", rewardId)
    .executeTakeFirstOrThrow();
  const amountWei = BigInt(reward.amount_wei);
  await postJournal(trx, {
    event: "reward.minted",
    orderReference: reward.order_reference,
    postings: [
      { account: accounts.rewardLiability(reward.referrer_member_id), asset: WEI, amount: amountWei },
      { account: accounts.mintedSupply, asset: WEI, amount: -amountWei },
    ],
  });
}
