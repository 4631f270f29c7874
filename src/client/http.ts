/**
 * A small HTTP client for Twinrail's API, as its callers see it from outside the process: the demo
 * (`scripts/demo.ts`) and the integration harness drive an instance through it. Redirects are not
 * followed (a 302 is an answer to assert on), and a JSON answer is parsed while its text is kept.
 */
import { randomBytes } from "node:crypto";
import { signWebhook } from "../lib/standard-webhooks.js";

export interface HttpRequestOptions {
  /** An API key or member token, sent as `authorization: Bearer …`. */
  key?: string;
  /** A string is sent as it is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON answer, the text when it is not JSON, undefined when empty. */
  // biome-ignore lint/suspicious/noExplicitAny: callers read answers of every route.
  body: any;
  text: string;
}

/** `method baseUrl+path`, JSON in and out. */
export async function httpRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: HttpRequestOptions = {},
): Promise<HttpResponse> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    redirect: "manual",
    headers: {
      ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
      ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
      ...options.headers,
    },
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** The Standard Webhooks headers a payment provider sends with `body`; id and timestamp default to fresh ones. */
export function webhookHeaders(
  secret: string,
  body: string,
  options: { id?: string; timestamp?: number; signature?: string } = {},
): Record<string, string> {
  const id = options.id ?? `evt_${randomBytes(8).toString("hex")}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": options.signature ?? signWebhook(secret, id, timestamp, body),
  };
}
