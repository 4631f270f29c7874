import { randomUUID } from "node:crypto";

/** An `X-Request-Id` a client may choose; anything else is replaced by a fresh UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id: the client's `X-Request-Id` when it is a plain token, else a new UUID. */
export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * What helmet (as configured in `createApp`, CSP off) sets on a response, as name/value pairs in one
 * flat list: for the routes served without helmet per request (`/r/:code`, the payments webhook).
 * test/integration/api-surface.test.ts compares it with helmet's own headers.
 */
export const SECURITY_HEADERS = [
  "cross-origin-opener-policy",
  "same-origin",
  "cross-origin-resource-policy",
  "same-origin",
  "origin-agent-cluster",
  "?1",
  "referrer-policy",
  "no-referrer",
  "strict-transport-security",
  "max-age=31536000; includeSubDomains",
  "x-content-type-options",
  "nosniff",
  "x-dns-prefetch-control",
  "off",
  "x-download-options",
  "noopen",
  "x-frame-options",
  "SAMEORIGIN",
  "x-permitted-cross-domain-policies",
  "none",
  "x-xss-protection",
  "0",
] as const;
