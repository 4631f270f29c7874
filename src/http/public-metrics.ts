import type { Services } from "../services.js";

/**
 * Prometheus lines for the public hot path: the plain node:http `/r/:code` handler (which logs no
 * line per request), the code cache and the shared rate limiter. Spliced into `/metrics`.
 */
export function publicPathMetrics(services: Services): string[] {
  const lines: string[] = [];
  const counter = (name: string, help: string, value: number) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
  const gauge = (name: string, help: string, value: number) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
  const redirects = services.redirectStats;
  if (redirects) {
    counter(
      "twinrail_redirects_total",
      "GET /r/:code answered with 302 by this process.",
      redirects.redirects,
    );
    counter(
      "twinrail_redirects_known_total",
      "Of those, redirects of an active code (visit counted).",
      redirects.redirectsKnown,
    );
    counter(
      "twinrail_redirects_rate_limited_total",
      "GET /r/:code answered with 429.",
      redirects.rateLimited,
    );
    counter("twinrail_redirects_errors_total", "GET /r/:code answered with 500.", redirects.errors);
  }
  const cache = services.codeCache?.stats;
  if (cache) {
    counter("twinrail_code_cache_hits_total", "Code lookups answered from memory (active code).", cache.hits);
    counter(
      "twinrail_code_cache_negative_hits_total",
      "Code lookups answered from memory (unknown code).",
      cache.negativeHits,
    );
    counter("twinrail_code_cache_loads_total", "Code lookups read from the database.", cache.loads);
    counter("twinrail_code_cache_evictions_total", "Entries evicted by the size bound.", cache.evictions);
    counter(
      "twinrail_code_cache_invalidations_total",
      "Times the cache was emptied (change here or version row).",
      cache.invalidations,
    );
    gauge("twinrail_code_cache_entries", "Active codes cached.", cache.size);
    gauge("twinrail_code_cache_negative_entries", "Unknown codes cached.", cache.negativeSize);
  }
  const limiter = services.rateLimiter?.stats;
  if (limiter) {
    counter(
      "twinrail_rate_limit_allowed_local_total",
      "Public requests admitted from local counters.",
      limiter.allowedLocal,
    );
    counter(
      "twinrail_rate_limit_allowed_sync_total",
      "Public requests admitted by a synchronous store upsert (edge of the limit).",
      limiter.allowedSync,
    );
    counter("twinrail_rate_limit_limited_total", "Public requests refused (429).", limiter.limited);
    counter(
      "twinrail_rate_limit_flushes_total",
      "Flushes of local counters to rate_limit_hits.",
      limiter.flushes,
    );
    counter(
      "twinrail_rate_limit_store_failures_total",
      "Rate-limit store writes that failed (requests let through).",
      limiter.storeFailures,
    );
    gauge("twinrail_rate_limit_buckets", "Buckets tracked in memory.", limiter.buckets);
  }
  return lines;
}
