import type { Request, RequestHandler } from "express";
import type { Logger } from "pino";
import { ipHash } from "../../attribution/ip-hash.js";
import type { Db } from "../../db/connect.js";
import { AppError } from "../../errors.js";
import { addRateLimitHits, flushRateLimitHits } from "../../ledger/queries/rate-limit-hits.js";
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

/** One answer of the limiter, with what the RateLimit-* headers say. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetSeconds: number;
}

export interface RateLimiterOptions {
  /** Requests per bucket per window (0 = off). */
  limit: number;
  windowSeconds: number;
  /** IP_HASH_SECRET: buckets hold keyed hashes of addresses, never addresses. */
  secret: string;
  /** How often local counts are written to `rate_limit_hits` (default 250 ms). */
  flushMs?: number;
  logger?: Logger;
}

export interface RateLimiterStats {
  allowedLocal: number;
  allowedSync: number;
  limited: number;
  flushes: number;
  flushedRows: number;
  storeFailures: number;
  buckets: number;
}

interface Counter {
  bucket: string;
  windowStart: number;
  /** The shared total as the store last returned it (this and every other instance's flushed hits). */
  known: number;
  /** Admitted here and not yet sent to the store. */
  pending: number;
  /** Sent to the store, answer not back yet. */
  inFlight: number;
}

/** Rows per statement; a flush with more buckets than this writes several statements. */
const FLUSH_CHUNK = 2000;
/** Store failures are logged at most this often. */
const LOG_EVERY_MS = 30_000;

/**
 * Fixed-window rate limit per client address, shared by every instance through `rate_limit_hits`
 * without a database write per request.
 *
 * Each instance counts locally per (bucket, window) and flushes every `flushMs` (250 ms) in one
 * statement: `INSERT … VALUES (…), (…) ON CONFLICT DO UPDATE SET hits = hits + EXCLUDED.hits
 * RETURNING hits`. The returned totals (everybody's flushed hits) become the bucket's baseline
 * `known`, and a request is admitted locally while `known + unflushed + 1 ≤ limit − margin`.
 * The last `margin = min(limit, max(10, ⌈limit / 10⌉))` requests of a window are admitted
 * synchronously instead: one atomic upsert each, admitted only if the returned total is ≤ limit — so
 * limits of 10 or less are exact across instances, as before, and a client at the edge of a larger
 * limit costs at most ~margin writes per window per instance (plus one per concurrent request), never
 * one per request. Once `known ≥ limit` the instance refuses locally, with no write at all.
 *
 * Overshoot bound: N instances together admit at most `limit + N × A` requests per bucket and window,
 * where A is what one instance admits locally between two flushes, and A ≤ limit − margin (e.g. the
 * default 300/60 s: margin 30, so at most 300 + N × 270 in the worst case of N fresh instances hit at
 * once; a client sending R req/s to each instance gets A ≈ R × 0.25 s). One instance alone never
 * overshoots: its own unflushed hits always count.
 *
 * If the store is unreachable requests are let through (counted locally, retried next flush) and
 * the failure is logged at most every 30 s: the limiter guards against abuse, it must not take the
 * public links down with the database. Expired windows are dropped from memory after their last
 * flush; their rows are deleted by the retention job (`pruneVisits`).
 */
export class RateLimiter {
  readonly limit: number;
  private readonly windowMs: number;
  private readonly margin: number;
  private readonly counters = new Map<string, Counter>();
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private lastLog = 0;
  private readonly counts = {
    allowedLocal: 0,
    allowedSync: 0,
    limited: 0,
    flushes: 0,
    flushedRows: 0,
    storeFailures: 0,
  };
  /** The last address hashed, with its bucket (most traffic comes in bursts from one address). */
  private hashMemo = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly options: RateLimiterOptions,
  ) {
    this.limit = options.limit;
    this.windowMs = options.windowSeconds * 1000;
    this.margin = Math.min(options.limit, Math.max(10, Math.ceil(options.limit / 10)));
  }

  get windowSeconds(): number {
    return this.options.windowSeconds;
  }

  get stats(): RateLimiterStats {
    return { ...this.counts, buckets: this.counters.size };
  }

  start(): void {
    if (this.timer || this.limit === 0) return;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), this.options.flushMs ?? 250);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  private bucketOf(name: string, ip: string): string {
    const memoKey = `${name}\n${ip}`;
    let bucket = this.hashMemo.get(memoKey);
    if (bucket === undefined) {
      bucket = `${name}:${ipHash(this.options.secret, ip).slice(0, 40)}`;
      if (this.hashMemo.size >= 4096) this.hashMemo.clear();
      this.hashMemo.set(memoKey, bucket);
    }
    return bucket;
  }

  /** Counts one request of `ip` against the `name` budget; synchronous unless at the limit's edge. */
  hit(name: string, ip: string, now = Date.now()): RateDecision | Promise<RateDecision> {
    const limit = this.limit;
    const windowStart = Math.floor(now / this.windowMs) * this.windowMs;
    const resetSeconds = Math.max(1, Math.ceil((windowStart + this.windowMs - now) / 1000));
    const bucket = this.bucketOf(name, ip);
    const key = `${bucket}|${windowStart}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = { bucket, windowStart, known: 0, pending: 0, inFlight: 0 };
      this.counters.set(key, counter);
    }
    const seen = counter.known + counter.pending + counter.inFlight;
    if (seen >= limit) {
      this.counts.limited += 1;
      return { allowed: false, limit, remaining: 0, resetSeconds };
    }
    if (seen + 1 <= limit - this.margin) {
      counter.pending += 1;
      this.counts.allowedLocal += 1;
      return { allowed: true, limit, remaining: limit - seen - 1, resetSeconds };
    }
    return this.syncHit(counter, resetSeconds);
  }

  /** At the edge of the limit: this request and whatever is unflushed, counted in the store now. */
  private async syncHit(counter: Counter, resetSeconds: number): Promise<RateDecision> {
    const limit = this.limit;
    const delta = counter.pending + 1;
    counter.pending = 0;
    counter.inFlight += delta;
    try {
      const hits = await addRateLimitHits(this.db, {
        bucket: counter.bucket,
        windowStart: counter.windowStart,
        delta,
      });
      counter.inFlight -= delta;
      counter.known = Math.max(counter.known, hits);
      if (hits > limit) {
        this.counts.limited += 1;
        return { allowed: false, limit, remaining: 0, resetSeconds };
      }
      this.counts.allowedSync += 1;
      return { allowed: true, limit, remaining: Math.max(0, limit - hits), resetSeconds };
    } catch (error) {
      counter.inFlight -= delta;
      counter.pending += delta;
      this.storeFailed(error);
      this.counts.allowedSync += 1;
      return {
        allowed: true,
        limit,
        remaining: Math.max(0, limit - counter.known - counter.pending),
        resetSeconds,
      };
    }
  }

  private storeFailed(error: unknown) {
    this.counts.storeFailures += 1;
    const now = Date.now();
    if (now - this.lastLog >= LOG_EVERY_MS) {
      this.lastLog = now;
      this.options.logger?.error(
        { err: error, failures: this.counts.storeFailures },
        "rate limit store unavailable; allowing requests",
      );
    }
  }

  /** Writes every bucket's unflushed hits (flushes run one at a time) and learns the shared totals. */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.flushNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async flushNow(): Promise<void> {
    const now = Date.now();
    const batch: Array<{ counter: Counter; delta: number }> = [];
    for (const [key, counter] of this.counters) {
      if (counter.pending > 0) {
        batch.push({ counter, delta: counter.pending });
        counter.inFlight += counter.pending;
        counter.pending = 0;
      } else if (counter.inFlight === 0 && counter.windowStart + this.windowMs <= now) {
        this.counters.delete(key);
      }
    }
    if (batch.length === 0) return;
    // One global order, so that instances flushing the same buckets at once cannot deadlock.
    batch.sort((a, b) =>
      a.counter.bucket === b.counter.bucket
        ? a.counter.windowStart - b.counter.windowStart
        : a.counter.bucket < b.counter.bucket
          ? -1
          : 1,
    );
    this.counts.flushes += 1;
    for (let i = 0; i < batch.length; i += FLUSH_CHUNK) {
      const chunk = batch.slice(i, i + FLUSH_CHUNK);
      try {
        const totals = await flushRateLimitHits(
          this.db,
          chunk.map(({ counter, delta }) => ({
            bucket: counter.bucket,
            windowStart: counter.windowStart,
            delta,
          })),
        );
        for (const { counter, delta } of chunk) {
          counter.inFlight -= delta;
          const hits = totals.get(`${counter.bucket}|${counter.windowStart}`);
          if (hits !== undefined) counter.known = Math.max(counter.known, hits);
        }
        this.counts.flushedRows += chunk.length;
      } catch (error) {
        for (const { counter, delta } of chunk) {
          counter.inFlight -= delta;
          counter.pending += delta;
        }
        this.storeFailed(error);
      }
    }
  }
}

declare module "../../services.js" {
  interface Services {
    /** The shared public rate limiter, started by `startServer` and flushed on close. */
    rateLimiter?: RateLimiter;
  }
}

const fallbacks = new WeakMap<object, RateLimiter>();

/** The services' limiter, or one made on first use (apps built without `startServer`). */
export function rateLimiterOf(services: Services): RateLimiter {
  if (services.rateLimiter) return services.rateLimiter;
  let limiter = fallbacks.get(services);
  if (!limiter) {
    const { config } = services;
    limiter = new RateLimiter(services.db, {
      limit: config.RATE_LIMIT_PUBLIC,
      windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
      secret: config.secrets.ipHash,
      logger: services.logger,
    });
    limiter.start();
    fallbacks.set(services, limiter);
  }
  return limiter;
}

/** The problem the limiter answers with (express path; the fast /r/ path writes the same body). */
export function rateLimitedError(decision: RateDecision, windowSeconds: number): AppError {
  return new AppError(
    "rate_limited",
    `too many requests from this address; retry in ${decision.resetSeconds} s`,
    {
      details: { limit: decision.limit, windowSeconds },
    },
  );
}

/**
 * Express middleware over the shared limiter: sets RateLimit-Limit/-Remaining/-Reset, and over the
 * limit answers 429 `rate_limited` with `Retry-After`.
 */
export function rateLimit(services: Services, name: string): RequestHandler {
  return async (req, res, next) => {
    const limiter = rateLimiterOf(services);
    if (limiter.limit === 0) return next();
    const decision = await limiter.hit(name, clientIp(req));
    res.set("RateLimit-Limit", String(decision.limit));
    res.set("RateLimit-Remaining", String(decision.remaining));
    res.set("RateLimit-Reset", String(decision.resetSeconds));
    if (!decision.allowed) {
      res.set("Retry-After", String(decision.resetSeconds));
      return next(rateLimitedError(decision, limiter.windowSeconds));
    }
    next();
  };
}
