/**
 * `twinrail/client`: a typed client for Twinrail's HTTP API, generated from the OpenAPI document the
 * server builds from its route registrations (paths, parameters, bodies and answers in
 * ./api.generated.ts, by `npx tsx scripts/api-types.ts`), on openapi-fetch; plus the two things a host
 * signs itself: inbound payment webhooks (Standard Webhooks) and member tokens (HS256).
 *
 *   const twinrail = createTwinrailClient({ baseUrl, token: process.env.TWINRAIL_API_KEY });
 *   const { data, error } = await twinrail.GET("/v1/admin/rewards", { params: { query: { status: "approved" } } });
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./api.generated.js";
import { type SignedWebhook, signedWebhook, type WebhookSigningOptions } from "./webhooks.js";

export { signMemberToken, verifyMemberToken } from "../lib/member-token.js";
export {
  signWebhook,
  verifyWebhook,
  WEBHOOK_TOLERANCE_SECONDS,
  type WebhookVerification,
} from "../lib/standard-webhooks.js";
export type { components, operations, paths } from "./api.generated.js";
export { type SignedWebhook, signedWebhook, type WebhookSigningOptions, webhookHeaders } from "./webhooks.js";

export type TwinrailClient = Client<paths>;
/** A view the API returns, by its component name: `View<"RewardView">`. */
export type View<Name extends keyof components["schemas"]> = components["schemas"][Name];

export interface TwinrailClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The service's origin, e.g. `https://twinrail.example.com` (no trailing path). */
  baseUrl: string;
  /** An API key or member token sent as `authorization: Bearer …`; a function is asked per request. */
  token?: string | (() => string | undefined);
}

/**
 * A client for `baseUrl`. Bodies are JSON (bigints as decimal strings, the API's money format); a string
 * body is sent as it is (a signed webhook's exact bytes).
 */
export function createTwinrailClient(options: TwinrailClientOptions): TwinrailClient {
  const { token, ...rest } = options;
  const client = createClient<paths>({ bodySerializer: serializeBody, ...rest });
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const value = typeof token === "function" ? token() : token;
        if (value && !request.headers.has("authorization"))
          request.headers.set("authorization", `Bearer ${value}`);
        return request;
      },
    });
  }
  return client;
}

/** Posts `event` to `/v1/webhooks/payments`, signed with the shared `whsec_…` secret. */
export function sendPaymentWebhook(
  client: TwinrailClient,
  secret: string,
  event: { type: string; data: Record<string, unknown> },
  options: WebhookSigningOptions = {},
) {
  const signed: SignedWebhook = signedWebhook(secret, event, options);
  return client.POST("/v1/webhooks/payments", {
    body: signed.body as never,
    headers: signed.headers,
  });
}

function serializeBody(body: unknown): string {
  if (typeof body === "string") return body;
  return JSON.stringify(body, (_, value) => (typeof value === "bigint" ? value.toString() : value));
}
