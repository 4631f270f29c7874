import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import { errSerializer } from "../../logger.js";
import { requestIdOf } from "../request-basics.js";

/** What a request line says of the request: its id, method and path (never its query, headers or body). */
export function requestSummary(req: { id?: unknown; method?: string; url?: string }) {
  return { id: req.id, method: req.method, url: String(req.url).split("?")[0] };
}

/** The request line's level: error once the response failed or is a 5xx, info otherwise. */
export function requestLevel(statusCode: number, error?: unknown): "error" | "info" {
  return error || statusCode >= 500 ? "error" : "info";
}

/**
 * pino-http as every route but the payments webhook gets it (lean-request.ts does its part by hand):
 * the request id (`X-Request-Id` in and out), `req.log`, and one line per response — info, or error
 * from 500 on — with the request's id, method and path (never its query, headers or body).
 */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req.headers["x-request-id"]);
      res.setHeader("x-request-id", id);
      return id;
    },
    customLogLevel: (_req, res, error) => requestLevel(res.statusCode, error),
    serializers: {
      req: requestSummary,
      res: (res) => ({ statusCode: res.statusCode }),
      // pino-http's child logger would otherwise fall back to pino's own, unredacted, err serializer.
      err: errSerializer,
    },
  });
}
