import { constantTimeEqual, hmacSha256 } from "./crypto.js";

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256
 * of "id.timestamp.body">`, secret `whsec_<base64>`, several space-separated signatures allowed (key
 * rotation), timestamps older or newer than the tolerance refused (replay window).
 */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret, "base64");
}

/** An HMAC with an empty key is one anybody can compute: such a secret never signs nor verifies. */
export class EmptyWebhookKeyError extends RangeError {
  constructor() {
    super("the webhook secret decodes to an empty key");
    this.name = "EmptyWebhookKeyError";
  }
}

/** @throws EmptyWebhookKeyError when the secret decodes to no bytes (e.g. `whsec_`). */
export function signWebhook(secret: string, id: string, timestamp: number, body: string | Buffer): string {
  const key = secretBytes(secret);
  if (key.length === 0) throw new EmptyWebhookKeyError();
  const payload = Buffer.concat([
    Buffer.from(`${id}.${timestamp}.`),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);
  return `v1,${hmacSha256(key, payload).toString("base64")}`;
}

export type WebhookVerification =
  | { ok: true }
  | { ok: false; reason: "missing_headers" | "stale_timestamp" | "bad_signature" };

export function verifyWebhook(
  secret: string,
  headers: { id?: string; timestamp?: string; signature?: string },
  body: Buffer,
  nowSeconds = Math.floor(Date.now() / 1000),
): WebhookVerification {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: "missing_headers" };
  // With an empty key every signature would be forgeable: nothing verifies.
  if (secretBytes(secret).length === 0) return { ok: false, reason: "bad_signature" };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: "stale_timestamp" };
  const ts = Number(timestamp);
  if (Math.abs(nowSeconds - ts) > WEBHOOK_TOLERANCE_SECONDS) return { ok: false, reason: "stale_timestamp" };
  const expected = signWebhook(secret, id, ts, body);
  let matched = false;
  // Check every candidate (no early exit) so timing does not reveal which one matched.
  for (const candidate of signature.split(" ")) {
    if (constantTimeEqual(candidate, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: "bad_signature" };
}
