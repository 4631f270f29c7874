import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { DbOrTx } from "../db/connect.js";
import type { WebhookEndpoint } from "../webhooks/tables.js";
import { type Actor, audit } from "./audit.js";

/** How long the previous secret keeps signing after a rotation. */
export const SECRET_OVERLAP_MS = 24 * 3600_000;

/** A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export async function createWebhookEndpoint(
  trx: DbOrTx,
  actor: Actor,
  input: { url: string; events: string[]; description: string | null },
): Promise<WebhookEndpoint> {
  const row = await trx
    .insertInto("webhook_endpoints")
    .values({
      url: input.url,
      events: input.events,
      description: input.description,
      secret: newWebhookSecret(),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  // The audit entry names the target, never the secret.
  await audit(trx, actor, "webhook_endpoint.created", { type: "webhook_endpoint", id: row.id }, null, {
    url: row.url,
    events: row.events,
  });
  return row;
}

export function listWebhookEndpoints(db: DbOrTx): Promise<WebhookEndpoint[]> {
  return db.selectFrom("webhook_endpoints").selectAll().orderBy("id").execute();
}

export function findWebhookEndpoint(db: DbOrTx, id: bigint): Promise<WebhookEndpoint | undefined> {
  return db.selectFrom("webhook_endpoints").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Deletes an endpoint and its deliveries (one statement). Returns whether it existed. */
export async function deleteWebhookEndpoint(trx: DbOrTx, actor: Actor, id: bigint): Promise<boolean> {
  const result = await sql<{ url: string }>`
    WITH gone AS (DELETE FROM webhook_endpoints WHERE id = ${id} RETURNING id, url),
         deliveries AS (DELETE FROM webhook_deliveries WHERE endpoint_id IN (SELECT id FROM gone))
    SELECT url FROM gone`.execute(trx);
  const row = result.rows[0];
  if (!row) return false;
  await audit(
    trx,
    actor,
    "webhook_endpoint.deleted",
    { type: "webhook_endpoint", id },
    { url: row.url },
    null,
  );
  return true;
}

/**
 * A new secret for an endpoint; the current one becomes the previous secret and keeps signing (a
 * second `v1,` signature) for 24 h after `now`. Returns the endpoint with its new secret.
 */
export async function rotateWebhookSecret(
  trx: DbOrTx,
  actor: Actor,
  id: bigint,
  now = new Date(),
): Promise<WebhookEndpoint | undefined> {
  const row = await trx
    .updateTable("webhook_endpoints")
    .set({
      previous_secret: sql<string>`secret`,
      previous_secret_expires_at: new Date(now.getTime() + SECRET_OVERLAP_MS),
      secret: newWebhookSecret(),
    })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  if (!row) return undefined;
  await audit(trx, actor, "webhook_endpoint.secret_rotated", { type: "webhook_endpoint", id }, null, {
    previousSecretExpiresAt: row.previous_secret_expires_at,
  });
  return row;
}

/** Turns a disabled endpoint back on (its run of failures forgotten). Returns the endpoint. */
export async function enableWebhookEndpoint(
  trx: DbOrTx,
  actor: Actor,
  id: bigint,
): Promise<WebhookEndpoint | undefined> {
  const row = await trx
    .updateTable("webhook_endpoints")
    .set({ enabled: true, disabled_reason: null, disabled_at: null, failing_since: null })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirst();
  if (row) await audit(trx, actor, "webhook_endpoint.enabled", { type: "webhook_endpoint", id }, null, null);
  return row;
}
