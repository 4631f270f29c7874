import { describe, expect, it } from "vitest";
import { orderBody, paidEvent, TEST_DB, useTestInstance } from "../support/harness.js";

function chargeback(orderReference: string, disputeId: string, status: string) {
  return { type: "order.chargeback", data: { orderReference, disputeId, status, amount: "170000" } };
}

describe(`held rewards carry their reason; a dispute hold leaves only through the dispute (${TEST_DB})`, () => {
  const t = useTestInstance();

  async function pay(ref: string, amountPaid = "170000"): Promise<string> {
    expect(
      (await t.request("POST", "/v1/orders", { key: t.keys.integration, body: orderBody(ref) })).status,
    ).toBe(201);
    const paid = await t.webhook(paidEvent(ref, amountPaid));
    expect(paid.status).toBe(200);
    return paid.body.reward.id as string;
  }

  async function row(id: string) {
    return t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("id", "=", BigInt(id))
      .executeTakeFirstOrThrow();
  }

  async function queueItem(id: string) {
    const queue = await t.request("GET", "/v1/admin/rewards?status=held", { key: t.keys.admin });
    expect(queue.status).toBe(200);
    return queue.body.items.find((item: { id: string }) => item.id === id);
  }

  const approve = (ids: string[]) =>
    t.request("POST", "/v1/admin/rewards/approve", { key: t.keys.admin, body: { ids } });
  const reject = (ids: string[], reason = "no") =>
    t.request("POST", "/v1/admin/rewards/reject", { key: t.keys.admin, body: { ids, reason } });

  it("refuses to approve or reject a reward held for a chargeback; the dispute's outcome releases it", async () => {
    const id = await pay("ord_hold_dispute");
    expect((await t.webhook(chargeback("ord_hold_dispute", "dp_h1", "opened"))).status).toBe(200);
    expect(await row(id)).toMatchObject({ status: "held", hold_reason: "dispute" });
    expect(await queueItem(id)).toMatchObject({ status: "held", holdReason: "dispute" });

    const approved = await approve([id]);
    expect(approved.body).toMatchObject({ approved: [], skipped: [{ id, reason: "held_for_dispute" }] });
    const rejected = await reject([id]);
    expect(rejected.body).toMatchObject({ rejected: [], skipped: [{ id, reason: "held_for_dispute" }] });
    expect(await row(id)).toMatchObject({ status: "held", hold_reason: "dispute", approved_by: null });

    expect((await t.webhook(chargeback("ord_hold_dispute", "dp_h1", "won"))).status).toBe(200);
    expect(await row(id)).toMatchObject({ status: "pending_approval", hold_reason: null });
    expect((await approve([id])).body.approved).toEqual([id]);
  });

  it("lets an admin reject a reward held for an amount mismatch, and shows the reason in the queue", async () => {
    const id = await pay("ord_hold_mismatch_reject", "169000");
    expect(await row(id)).toMatchObject({ status: "held", hold_reason: "amount_mismatch" });
    expect(await queueItem(id)).toMatchObject({ holdReason: "amount_mismatch" });
    const rejected = await reject([id], "paid less than the total");
    expect(rejected.body).toMatchObject({ rejected: [id], skipped: [] });
    expect(await row(id)).toMatchObject({
      status: "rejected",
      hold_reason: null,
      rejected_reason: "paid less than the total",
    });
  });

  it("lets an admin approve a reward held for an amount mismatch, clearing the reason", async () => {
    const id = await pay("ord_hold_mismatch_approve", "171000");
    expect((await approve([id])).body).toMatchObject({ approved: [id], skipped: [] });
    expect(await row(id)).toMatchObject({ status: "approved", hold_reason: null });
  });

  it("lets a dispute take over a mismatch hold and gives the mismatch hold back when it is won", async () => {
    const id = await pay("ord_hold_both", "169000");
    expect((await t.webhook(chargeback("ord_hold_both", "dp_h2", "opened"))).body).toMatchObject({
      held: { reward: true },
    });
    expect(await row(id)).toMatchObject({ status: "held", hold_reason: "dispute" });
    expect((await approve([id])).body.skipped).toEqual([{ id, reason: "held_for_dispute" }]);
    expect((await t.webhook(chargeback("ord_hold_both", "dp_h2", "won"))).body).toMatchObject({
      result: "recorded",
    });
    expect(await row(id)).toMatchObject({ status: "held", hold_reason: "amount_mismatch" });
    expect((await reject([id])).body.rejected).toEqual([id]);
  });

  it("cancels a dispute-held reward when the dispute is lost, clearing the reason", async () => {
    const id = await pay("ord_hold_lost");
    await t.webhook(chargeback("ord_hold_lost", "dp_h3", "opened"));
    expect((await t.webhook(chargeback("ord_hold_lost", "dp_h3", "lost"))).body).toMatchObject({
      refunded: "170000",
    });
    expect(await row(id)).toMatchObject({ status: "cancelled", hold_reason: null });
  });

  it("refuses a held reward without a reason in the schema", async () => {
    const id = await pay("ord_hold_schema");
    await expect(
      t.services.db
        .updateTable("referral_rewards")
        .set({ status: "held" })
        .where("id", "=", BigInt(id))
        .execute(),
    ).rejects.toThrow(/referral_rewards_held_has_reason/);
  });
});
