import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { BlockedTargetError, blockedReason, guardedLookup, hostOf } from "./targets.js";

/** How long one attempt may take, connect to last byte. */
export const WEBHOOK_TIMEOUT_MS = 15_000;

export interface SendResult {
  /** The HTTP status, or null when no response came (refused, timed out, blocked). */
  statusCode: number | null;
  /** Why it failed (never the secret, never the request body). */
  error: string | null;
  durationMs: number;
}

/**
 * POSTs one webhook. Success is a 2xx; redirects are not followed. The connection goes to the address
 * the guarded lookup resolved and checked (an address literal is checked here, as node skips lookup
 * for one). The response body is read (at most 64 KiB) and dropped.
 */
export function sendWebhook(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: { allowPrivate: boolean; timeoutMs?: number },
): Promise<SendResult> {
  const started = performance.now();
  const done = (statusCode: number | null, error: string | null): SendResult => ({
    statusCode,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve(done(null, "the endpoint URL does not parse"));
  }
  const host = hostOf(url);
  if (!options.allowPrivate && isIP(host)) {
    const reason = blockedReason(host);
    if (reason) return Promise.resolve(done(null, new BlockedTargetError(reason).message));
  }
  const client = url.protocol === "https:" ? https : http;
  const timeoutMs = options.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(
      url,
      {
        method: "POST",
        agent: false,
        lookup: guardedLookup(options.allowPrivate),
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
          "user-agent": "Twinrail-Webhooks/1",
        },
      },
      (response) => {
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > 65_536) response.destroy();
        });
        const status = response.statusCode ?? 0;
        const end = () =>
          finish(done(status, status >= 200 && status < 300 ? null : `the endpoint answered HTTP ${status}`));
        response.on("end", end);
        response.on("close", end);
        response.on("error", end);
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      finish(done(null, `no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    request.on("error", (error: Error) => finish(done(null, error.message.slice(0, 500))));
    request.end(body);
  });
}
