import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import { errSerializer } from "../../logger.js";
import { requestIdOf } from "../request-basics.js";

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
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? "error" : "info"),
    serializers: {
      req: (req) => ({ id: req.id, method: req.method, url: String(req.url).split("?")[0] }),
      res: (res) => ({ statusCode: res.statusCode }),
      // pino-http's child logger would otherwise fall back to pino's own, unredacted, err serializer.
      err: errSerializer,
    },
  });
}
