import { randomBytes } from "node:crypto";
import { signWebhook } from "../lib/standard-webhooks.js";

/**
 * Inbound webhooks (`POST /v1/webhooks/payments`) as a payment provider sends them, Standard Webhooks
 * signed: the raw body and the `webhook-id`, `webhook-timestamp`, `webhook-signature` headers. The
 * signature covers the exact bytes sent, so the body is serialized once, here.
 */
export interface SignedWebhook {
  body: string;
  headers: Record<string, string>;
}

export interface WebhookSigningOptions {
  /** Stable across retries of one event (the service dedupes on it); default a fresh `evt_…`. */
  id?: string;
  /** Unix seconds; default now (the service refuses more than 5 minutes off). */
  timestamp?: number;
  /** Sent instead of the computed signature (tests of refusals). */
  signature?: string;
}

/** The Standard Webhooks headers for `body` signed with `secret` (`whsec_…`). */
export function webhookHeaders(
  secret: string,
  body: string,
  options: WebhookSigningOptions = {},
): Record<string, string> {
  const id = options.id ?? `evt_${randomBytes(8).toString("hex")}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": options.signature ?? signWebhook(secret, id, timestamp, body),
  };
}

/** `event` serialized and signed: pass `body` and `headers` to the request as they are. */
export function signedWebhook(
  secret: string,
  event: unknown,
  options: WebhookSigningOptions & { rawBody?: string } = {},
): SignedWebhook {
  const body = options.rawBody ?? JSON.stringify(event);
  return { body, headers: webhookHeaders(secret, body, options) };
}
