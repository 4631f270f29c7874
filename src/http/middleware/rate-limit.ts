import type { Request, RequestHandler } from "express";
import { sql } from "kysely";
import { ipHash } from "../../attribution/ip-hash.js";
import { AppError } from "../../errors.js";
import type { Services } from "../../services.js";

/**
 * The client's address as this process can honestly know it. Without `TRUST_PROXY` it is the socket
 * address — behind a proxy every visitor then shares the proxy's address (and its limit), which is
 * safe but coarse; `X-Forwarded-For` is ignored because anyone can send it. With `TRUST_PROXY` set,
 * express's `trust proxy` picks the address from `X-Forwarded-For` as far as the trusted hops go.
 */
export function clientIp(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? "unknown";
}

/**
 * Fixed-window rate limit per client address, counted in Postgres so that every instance shares the
 * same budget: one atomic `INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits`. Buckets
 * hold the keyed hash of the address, never the address. Over the limit → 429 `rate_limited` with
 * `Retry-After`. If the store is unreachable the request is let through (and logged): the limiter
 * guards against abuse, it must not take the public links down with the database.
 */
export function rateLimit(services: Services, name: string): RequestHandler {
  return async (req, res, next) => {
    const { config } = services;
    const limit = config.RATE_LIMIT_PUBLIC;
    if (limit === 0) return next();
    const windowMs = config.RATE_LIMIT_WINDOW_SECONDS * 1000;
    const now = Date.now();
    const windowStart = new Date(Math.floor(now / windowMs) * windowMs);
    const bucket = `${name}:${ipHash(config.secrets.ipHash, clientIp(req)).slice(0, 40)}`;
    let hits: number;
    try {
      const result = await sql<{ hits: number }>`
        INSERT INTO rate_limit_hits (bucket, window_start, hits) VALUES (${bucket}, ${windowStart}, 1)
        ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1
        RETURNING hits`.execute(services.db);
      hits = Number(result.rows[0]?.hits ?? 0);
    } catch (error) {
      services.logger.error({ err: error, bucket: name }, "rate limit store unavailable; allowing request");
      return next();
    }
    const resetSeconds = Math.max(1, Math.ceil((windowStart.getTime() + windowMs - now) / 1000));
    res.set("RateLimit-Limit", String(limit));
    res.set("RateLimit-Remaining", String(Math.max(0, limit - hits)));
    res.set("RateLimit-Reset", String(resetSeconds));
    if (hits > limit) {
      res.set("Retry-After", String(resetSeconds));
      return next(
        new AppError("rate_limited", `too many requests from this address; retry in ${resetSeconds} s`, {
          details: { limit, windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS },
        }),
      );
    }
    next();
  };
}
