import { sql } from "kysely";
import type { Hex, TransactionReceipt } from "viem";
import type { DbOrTx } from "../../db/connect.js";
import { audit, auditRow } from "../../ledger/audit.js";
import { accounts, journalRows, postRewardMinted, WEI } from "../../ledger/journal.js";
import { ACTOR, at, type MinterContext } from "./context.js";
import { moveBatchRewards } from "./transitions.js";

/** Marks one reward minted from the chain's own record of its payment (its `ReferralPaid` log). */
export async function markMinted(
  ctx: MinterContext,
  batchId: bigint,
  rewardId: bigint,
  log: { transactionHash: Hex; blockNumber: bigint; logIndex: number },
): Promise<void> {
  const { transactionHash: txHash, blockNumber, logIndex } = log;
  await ctx.db.transaction().execute(async (trx) => {
    const row = await moveBatchRewards(trx, { batchId, ids: [rewardId], to: "minted" })
      .set({
        tx_hash: txHash.toLowerCase(),
        block_number: blockNumber,
        log_index: logIndex,
        minted_at: sql<Date>`now()`,
      })
      .returning("id")
      .executeTakeFirst();
    if (row) {
      await postRewardMinted(trx, rewardId);
      await audit(
        trx,
        ACTOR,
        "reward.minted",
        { type: "reward", id: rewardId },
        { status: "minting" },
        {
          status: "minted",
          txHash,
          blockNumber,
          batchId,
        },
      );
      ctx.stats.minted++;
    }
  });
}

/**
 * Marks the rewards a receipt paid minted, in ONE transaction for the whole receipt: one UPDATE, the
 * `reward.minted` journal (liability → supply, one journal transaction per reward) and the audit
 * entries as multi-row inserts. The "mid-mark" crash point is inside it: a kill there rolls every
 * row back, and recovery marks them from the chain.
 */
export async function markMintedFromReceipt(
  ctx: MinterContext,
  batchId: bigint,
  receipt: TransactionReceipt,
  paid: { id: bigint; logIndex: number }[],
): Promise<number> {
  if (paid.length === 0) return 0;
  const txHash = receipt.transactionHash.toLowerCase();
  const logIndexes = JSON.stringify(
    Object.fromEntries(paid.map((item) => [item.id.toString(), item.logIndex])),
  );
  const count = await ctx.db.transaction().execute(async (trx) => {
    const ids = paid.map((item) => item.id);
    const rows = await moveBatchRewards(trx, { batchId, ids, to: "minted" })
      .set({
        tx_hash: txHash,
        block_number: receipt.blockNumber,
        log_index: sql<number>`(${logIndexes}::jsonb ->> id::text)::int`,
        minted_at: sql<Date>`now()`,
      })
      .returning(["id", "order_reference", "referrer_member_id", "amount_wei"])
      .execute();
    at(ctx, "mid-mark", batchId);
    if (rows.length === 0) return 0;
    await bookMinted(trx, batchId, receipt, rows);
    return rows.length;
  });
  ctx.stats.minted += count;
  return count;
}

/** The journal (liability → minted supply) and audit entries of rewards just marked, as multi-row inserts. */
async function bookMinted(
  trx: DbOrTx,
  batchId: bigint,
  receipt: TransactionReceipt,
  rows: { id: bigint; order_reference: string; referrer_member_id: string; amount_wei: string }[],
): Promise<void> {
  const journal = rows.flatMap((row) =>
    journalRows({
      event: "reward.minted",
      orderReference: row.order_reference,
      postings: [
        {
          account: accounts.rewardLiability(row.referrer_member_id),
          asset: WEI,
          amount: BigInt(row.amount_wei),
        },
        { account: accounts.mintedSupply, asset: WEI, amount: -BigInt(row.amount_wei) },
      ],
    }),
  );
  if (journal.length) await trx.insertInto("journal_entries").values(journal).execute();
  await trx
    .insertInto("audit_log")
    .values(
      rows.map((row) =>
        auditRow(
          ACTOR,
          "reward.minted",
          { type: "reward", id: row.id },
          { status: "minting" },
          {
            status: "minted",
            txHash: receipt.transactionHash,
            blockNumber: receipt.blockNumber,
            batchId,
          },
        ),
      ),
    )
    .execute();
}
