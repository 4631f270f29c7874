import type { Db, DbOrTx } from "../db/connect.js";
import { inTransaction } from "../db/transaction.js";
import { AppError } from "../errors.js";

export interface WebhookDelivery {
  provider: string;
  eventId: string;
  eventType: string;
  /** sha256 of the raw body: a replay with a different body is a conflict. */
  payloadHash: string;
}

export interface WebhookOutcome {
  result: "recorded" | "duplicate" | "ignored";
  [key: string]: unknown;
}

/**
 * Records a webhook delivery and all of its effects in ONE transaction: either the event row and every
 * effect commit together, or nothing does and the provider's retry starts clean. The (provider,
 * event id) primary key makes concurrent deliveries of the same event wait for the first and then
 * answer "duplicate" with the first response.
 */
export async function recordWebhook(
  db: Db,
  delivery: WebhookDelivery,
  handle: (trx: DbOrTx) => Promise<WebhookOutcome>,
): Promise<WebhookOutcome> {
  return inTransaction(
    db,
    async (trx) => {
      const claimed = await trx
        .insertInto("webhook_events")
        .values({
          provider: delivery.provider,
          event_id: delivery.eventId,
          payload_hash: delivery.payloadHash,
          event_type: delivery.eventType,
          response: JSON.stringify({ result: "pending" }),
        })
        .onConflict((oc) => oc.columns(["provider", "event_id"]).doNothing())
        .returning("event_id")
        .executeTakeFirst();
      if (!claimed) {
        const previous = await trx
          .selectFrom("webhook_events")
          .select(["payload_hash", "response"])
          .where("provider", "=", delivery.provider)
          .where("event_id", "=", delivery.eventId)
          .executeTakeFirstOrThrow();
        if (previous.payload_hash !== delivery.payloadHash) {
          throw new AppError(
            "webhook_conflict",
            `webhook ${delivery.eventId} was already received with a different body`,
            {
              details: { webhookId: delivery.eventId },
            },
          );
        }
        return { ...(previous.response as WebhookOutcome), result: "duplicate" };
      }
      const outcome = await handle(trx);
      await trx
        .updateTable("webhook_events")
        .set({ response: JSON.stringify(outcome) })
        .where("provider", "=", delivery.provider)
        .where("event_id", "=", delivery.eventId)
        .execute();
      return outcome;
    },
    { name: `webhook ${delivery.eventType}` },
  );
}
