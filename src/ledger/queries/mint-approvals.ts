import type { DbOrTx } from "../../db/connect.js";

/** Wallet mode: the batches awaiting (or holding) a wallet's approval signature, oldest first. */
export function listAwaitingApproval(db: DbOrTx, limit: number) {
  return db
    .selectFrom("mint_batches")
    .selectAll()
    .where("status", "in", ["awaiting_approval", "approval_signed"])
    .orderBy("id")
    .limit(limit)
    .execute();
}

/** One mint batch by id (undefined when there is none). */
export function readMintBatch(db: DbOrTx, id: bigint) {
  return db.selectFrom("mint_batches").selectAll().where("id", "=", id).executeTakeFirst();
}
