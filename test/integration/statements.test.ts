import { describe, expect, it } from "vitest";
import { transactionStats } from "../../src/db/transaction.js";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

/**
 * Round trips per event: `order.paid` used to send 33 statements. Counted by the statement counter the
 * service's Kysely instance carries (BEGIN and COMMIT are two more, not counted here). The budget is
 * 10 statements with BEGIN and COMMIT, for an event that also creates the order (`data.order`).
 */
describe(`statements per event (${TEST_DB})`, () => {
  const t = useTestInstance();

  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; statements: number }> {
    const before = transactionStats.statements;
    const result = await fn();
    const statements = transactionStats.statements - before;
    console.info(`statements: ${statements}`);
    return { result, statements };
  }

  it("order.paid carrying data.order (new buyer, referred): ≤ 8 statements + BEGIN/COMMIT", async () => {
    const { result, statements } = await counted(() =>
      t.webhook(paidEvent("ord_stmt_1", "170000", { order: orderBody("ord_stmt_1") })),
    );
    expect(result.status).toBe(200);
    expect(result.body.result).toBe("recorded");
    expect(result.body.reward).not.toBeNull();
    expect(statements).toBeLessThanOrEqual(8);
  });

  it("order.paid for an order posted at checkout: ≤ 6 statements + BEGIN/COMMIT", async () => {
    const created = await t.request("POST", "/v1/orders", {
      key: t.keys.integration,
      body: orderBody("ord_stmt_2"),
    });
    expect(created.status).toBe(201);
    const { result, statements } = await counted(() => t.webhook(paidEvent("ord_stmt_2", "170000")));
    expect(result.body.result).toBe("recorded");
    expect(statements).toBeLessThanOrEqual(6);
  });

  it("a duplicate delivery costs 2 statements", async () => {
    const event = paidEvent("ord_stmt_3", "170000", { order: orderBody("ord_stmt_3") });
    await t.webhook(event, { id: "evt_stmt_3" });
    const { result, statements } = await counted(() => t.webhook(event, { id: "evt_stmt_3" }));
    expect(result.body.result).toBe("duplicate");
    expect(statements).toBeLessThanOrEqual(2);
  });
});
