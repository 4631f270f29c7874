import type { RequestHandler } from "express";
import { AppError } from "../../errors.js";
import { findIdempotencyKey, storeIdempotencyKey } from "../../ledger/queries/idempotency-keys.js";
import { hashJson } from "../../lib/crypto.js";
import type { Services } from "../../services.js";

/**
 * `Idempotency-Key` on POSTs: the same key and body replay the first response; the same key with a
 * different body is a 422. Responses below 500 are stored; a failed attempt can be retried.
 * Two requests racing with one new key may both run; the use cases behind them are idempotent
 * themselves (unique keys), so the race costs work, not correctness.
 */
export function idempotency(services: Services): RequestHandler {
  return async (req, res, next) => {
    const key = req.get("idempotency-key");
    if (req.method !== "POST" || !key) return next();
    if (key.length > 255)
      return next(new AppError("validation_failed", "Idempotency-Key must be at most 255 characters"));
    const principal = req.principal?.kind === "api_key" ? `key:${req.principal.keyId}` : "anonymous";
    const requestHash = hashJson({ path: req.originalUrl, body: req.body ?? null });
    const previous = await findIdempotencyKey(services.db, principal, key);
    if (previous) {
      if (previous.request_hash !== requestHash) {
        return next(
          new AppError("idempotency_conflict", "this Idempotency-Key was used with a different request body"),
        );
      }
      res.setHeader("idempotent-replayed", "true");
      return res.status(previous.status_code).json(previous.response);
    }
    const json = res.json.bind(res);
    res.json = (body: unknown) => {
      if (res.statusCode >= 500) return json(body);
      // Stored before the answer leaves, so a retry that arrives right after sees it.
      storeIdempotencyKey(services.db, {
        principal,
        key,
        requestHash,
        statusCode: res.statusCode,
        response: JSON.stringify(body),
      })
        .catch((error) => req.log?.warn({ err: error }, "could not store idempotency key"))
        .finally(() => json(body));
      return res;
    };
    next();
  };
}
