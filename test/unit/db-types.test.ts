import { describe, expect, expectTypeOf, it } from "vitest";
import { asDb, type Db, type DbOrTx, type Tx } from "../../src/db/connect.js";
import { inTransaction } from "../../src/db/transaction.js";
import type { createOrder } from "../../src/ledger/create-order.js";
import type { recordWebhook } from "../../src/ledger/record-webhook.js";
import type { reviewRewards } from "../../src/ledger/review-rewards.js";

/**
 * Kysely refuses `.transaction()` on a transaction only at run time. The types refuse it first: a
 * function that opens its own transaction takes `Db`, and a `Tx` is not one. Checked by `tsc` (the
 * `@ts-expect-error` lines fail the typecheck if the call ever compiles) and by vitest's expectTypeOf.
 */
describe("Db and Tx are distinct types", () => {
  it("a Tx cannot be passed where a function opens its own transaction", () => {
    const tx = undefined as unknown as Tx;
    const run = () => {
      // @ts-expect-error a transaction is not the database: inTransaction would nest
      void inTransaction(tx, async () => undefined);
    };
    expect(typeof run).toBe("function");
    expectTypeOf<Tx>().not.toExtend<Db>();
    expectTypeOf<Tx>().not.toExtend<Parameters<typeof inTransaction>[0]>();
    expectTypeOf<Tx>().not.toExtend<Parameters<typeof createOrder>[0]>();
    expectTypeOf<Tx>().not.toExtend<Parameters<typeof reviewRewards>[0]>();
    expectTypeOf<Tx>().not.toExtend<Parameters<typeof recordWebhook>[0]>();
  });

  it("both the database and a transaction run statements that take DbOrTx", () => {
    expectTypeOf<Db>().toExtend<DbOrTx>();
    expectTypeOf<Tx>().toExtend<DbOrTx>();
    expectTypeOf<Parameters<Parameters<typeof inTransaction>[1]>[0]>().toEqualTypeOf<Tx>();
  });

  it("asDb refuses a transaction at run time as well", () => {
    expect(() => asDb({ isTransaction: true } as unknown as Tx)).toThrow(/not the database/);
  });
});
