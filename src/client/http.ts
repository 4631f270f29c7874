/**
 * The untyped side of `twinrail/client`, for callers that send what the API must refuse (the
 * integration harness: unknown paths, malformed bodies, forged signatures) or read answers of every
 * route alike: any method and path through a typed client (its base URL, middleware, serializer), the
 * answer's text kept next to its parsed JSON. Redirects are not followed (a 302 is an answer).
 */
import { createTwinrailClient, type TwinrailClient } from "./index.js";

export { webhookHeaders } from "./webhooks.js";

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

/** Bodies read by `textKeepingFetch`, by the response handed on to openapi-fetch. */
const texts = new WeakMap<Response, string>();
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** fetch that reads the body once and hands on a copy, so the exact text survives openapi-fetch's parsing. */
async function textKeepingFetch(input: Request, init?: RequestInit): Promise<Response> {
  const original = await fetch(input, init);
  const text = await original.text();
  const copy = new Response(NULL_BODY_STATUSES.has(original.status) || text === "" ? null : text, {
    status: original.status,
    statusText: original.statusText,
    headers: original.headers,
  });
  texts.set(copy, text);
  return copy;
}

/** `method path` through `client` (made by `rawClient`, so the answer's text is kept). */
export async function requestRaw(
  client: TwinrailClient,
  method: string,
  path: string,
  options: HttpRequestOptions = {},
): Promise<HttpResponse> {
  const loose = client as unknown as {
    request(method: string, url: string, init: Record<string, unknown>): Promise<{ response: Response }>;
  };
  const { response } = await loose.request(method, path, {
    body: options.body,
    redirect: "manual",
    headers: { ...(options.key ? { authorization: `Bearer ${options.key}` } : {}), ...options.headers },
    // The answer is read from the kept text below, whatever its type.
    parseAs: "text",
  });
  const text = texts.get(response) ?? "";
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** A client whose answers `requestRaw` can read as text. */
export function rawClient(baseUrl: string): TwinrailClient {
  return createTwinrailClient({ baseUrl, fetch: textKeepingFetch });
}

/** `method baseUrl+path`, JSON in and out (one-off calls; hold a `rawClient` for many). */
export function httpRequest(
  baseUrl: string,
  method: string,
  path: string,
  options: HttpRequestOptions = {},
): Promise<HttpResponse> {
  return requestRaw(rawClient(baseUrl), method, path, options);
}
