import type { ColumnType, Generated, Selectable } from "kysely";
import type { ClawbacksTable, PayoutsTable } from "../db/schema.js";

/**
 * The tables of outbound webhooks (migration 0013), merged into the database type of
 * src/db/schema.ts so kysely knows them wherever it knows the ledger's.
 */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

declare module "../db/schema.js" {
  interface Database {
    webhook_endpoints: WebhookEndpointsTable;
    webhook_messages: WebhookMessagesTable;
    webhook_deliveries: WebhookDeliveriesTable;
    webhook_delivery_attempts: WebhookDeliveryAttemptsTable;
  }
}

/** 0013: where outbound webhooks go (see src/webhooks/). */
export interface WebhookEndpointsTable {
  id: Generated<bigint>;
  url: string;
  events: ColumnType<string[], string[] | undefined, string[]>;
  description: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  disabled_at: Date | null;
  failing_since: Date | null;
  created_at: CreatedAt;
}

/** 0013: the outbox, written by triggers in the transaction of the change it announces. */
export interface WebhookMessagesTable {
  id: Generated<bigint>;
  event_type: string;
  subject_id: string;
  snapshot: ColumnType<Record<string, unknown>, string, string>;
  created_at: CreatedAt;
}

export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** 0013: one message to one endpoint. */
export interface WebhookDeliveriesTable {
  id: Generated<bigint>;
  message_id: bigint;
  endpoint_id: bigint;
  status: ColumnType<WebhookDeliveryStatus, WebhookDeliveryStatus | undefined>;
  attempts: Generated<number>;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: CreatedAt;
}

/** 0013: every attempt of a delivery. */
export interface WebhookDeliveryAttemptsTable {
  id: Generated<bigint>;
  delivery_id: bigint;
  attempt: number;
  at: Date;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export type Payout = Selectable<PayoutsTable>;
export type Clawback = Selectable<ClawbacksTable>;
export type WebhookEndpoint = Selectable<WebhookEndpointsTable>;
