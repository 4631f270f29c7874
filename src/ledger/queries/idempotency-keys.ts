import type { DbOrTx } from "../../db/connect.js";

/** The stored answer for `key` of `principal`, if one was stored (see the idempotency middleware). */
export async function findIdempotencyKey(db: DbOrTx, principal: string, key: string) {
  return db
    .selectFrom("idempotency_keys")
    .selectAll()
    .where("principal", "=", principal)
    .where("key", "=", key)
    .executeTakeFirst();
}

/** Stores the first answer for `key`; a concurrent first answer already stored wins (no overwrite). */
export async function storeIdempotencyKey(
  db: DbOrTx,
  row: { principal: string; key: string; requestHash: string; statusCode: number; response: string },
): Promise<void> {
  await db
    .insertInto("idempotency_keys")
    .values({
      principal: row.principal,
      key: row.key,
      request_hash: row.requestHash,
      status_code: row.statusCode,
      response: row.response,
    })
    .onConflict((oc) => oc.columns(["principal", "key"]).doNothing())
    .execute();
}
