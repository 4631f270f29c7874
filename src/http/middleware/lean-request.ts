import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { requestIdOf, SECURITY_HEADERS } from "../request-basics.js";
import { requestLevel, requestSummary } from "./request-logger.js";

/**
 * What pino-http and helmet give a request (`createApp`), done by hand for the one route that takes
 * most of the traffic, the payments webhook (`POST /v1/webhooks/payments`):
 * - the request id: the client's `X-Request-Id` when it is a plain token, else a UUID; answered in
 *   `X-Request-Id`, and `req.id` for the audit trail and problem+json;
 * - helmet's headers (precomputed, request-basics.ts);
 * - `req.log` bound to the request, built only when something logs;
 * - the same "request completed" / "request aborted" / "request errored" line, once the response
 *   finishes or the connection closes, at the same levels (error from 500 on), written only when its
 *   level is enabled.
 * pino-http builds a child logger and serializes the request for every request, and helmet runs a
 * dozen middlewares: for the webhook that was about 7 % of the service's CPU per event
 * (docs/scaling.md). The path matches as express routes match it (any case, one trailing slash), so
 * every request the webhook's route serves comes through here; anything else passes on untouched to
 * pino-http and helmet.
 */
export function leanRequest(logger: Logger, method: string, path: string): RequestHandler {
  const route = path.toLowerCase();
  return (req, res, next) => {
    if (req.method !== method || req.path.toLowerCase().replace(/(.)\/$/, "$1") !== route) {
      next();
      return;
    }
    const id = requestIdOf(req.headers["x-request-id"]);
    req.id = id;
    res.setHeader("x-request-id", id);
    for (let i = 0; i < SECURITY_HEADERS.length; i += 2)
      res.setHeader(SECURITY_HEADERS[i]!, SECURITY_HEADERS[i + 1]!);
    let child: Logger | undefined;
    Object.defineProperty(req, "log", {
      configurable: true,
      enumerable: false,
      get: () => {
        child ??= logger.child({ req: requestSummary(req) });
        return child;
      },
    });
    const started = Date.now();
    // Once, on whichever comes first, as pino-http does: the response finished, the connection closed
    // (a client that gave up), or the response failed.
    const complete = (error?: unknown) => {
      res.off("finish", complete);
      res.off("close", complete);
      res.off("error", complete);
      const level = requestLevel(res.statusCode, error);
      if (!logger.isLevelEnabled(level)) return;
      // pino's response serializer: no status before the headers went out.
      const statusCode = res.headersSent ? res.statusCode : null;
      const line = { res: { statusCode }, responseTime: Date.now() - started };
      if (level === "error") {
        const err = error ?? new Error(`failed with status code ${res.statusCode}`);
        req.log.error({ ...line, err }, "request errored");
      } else {
        const finished = !req.readableAborted && res.writableEnded;
        req.log.info(line, finished ? "request completed" : "request aborted");
      }
    };
    res.on("finish", complete);
    res.on("close", complete);
    res.on("error", complete);
    next();
  };
}
