import type { Metrics } from "../metrics/registry.js";
import type { Services } from "../services.js";

/**
 * The public hot path's metrics: the plain node:http `/r/:code` handler (which logs no line per
 * request), the code cache and the shared rate limiter. Their counters stay plain number fields on
 * the path; these read them at scrape time (0 until the component exists).
 */
export function registerPublicPathMetrics(metrics: Metrics, services: Services): void {
  const counter = (name: string, help: string, read: () => number) => metrics.counter({ name, help, read });
  const gauge = (name: string, help: string, read: () => number) => metrics.gauge({ name, help, read });
  const redirects = () => services.redirectStats;
  counter(
    "twinrail_redirects_total",
    "GET /r/:code answered with 302 by this process.",
    () => redirects()?.redirects ?? 0,
  );
  counter(
    "twinrail_redirects_known_total",
    "Of those, redirects of an active code (visit counted).",
    () => redirects()?.redirectsKnown ?? 0,
  );
  counter(
    "twinrail_redirects_rate_limited_total",
    "GET /r/:code answered with 429.",
    () => redirects()?.rateLimited ?? 0,
  );
  counter(
    "twinrail_redirects_errors_total",
    "GET /r/:code answered with 500.",
    () => redirects()?.errors ?? 0,
  );

  const cache = () => services.codeCache?.stats;
  counter(
    "twinrail_code_cache_hits_total",
    "Code lookups answered from memory (active code).",
    () => cache()?.hits ?? 0,
  );
  counter(
    "twinrail_code_cache_negative_hits_total",
    "Code lookups answered from memory (unknown code).",
    () => cache()?.negativeHits ?? 0,
  );
  counter(
    "twinrail_code_cache_loads_total",
    "Code lookups read from the database.",
    () => cache()?.loads ?? 0,
  );
  counter(
    "twinrail_code_cache_evictions_total",
    "Entries evicted by the size bound.",
    () => cache()?.evictions ?? 0,
  );
  counter(
    "twinrail_code_cache_invalidations_total",
    "Times the cache was emptied (change here or version row).",
    () => cache()?.invalidations ?? 0,
  );
  gauge("twinrail_code_cache_entries", "Active codes cached.", () => cache()?.size ?? 0);
  gauge("twinrail_code_cache_negative_entries", "Unknown codes cached.", () => cache()?.negativeSize ?? 0);

  const limiter = () => services.rateLimiter?.stats;
  counter(
    "twinrail_rate_limit_allowed_local_total",
    "Public requests admitted from local counters.",
    () => limiter()?.allowedLocal ?? 0,
  );
  counter(
    "twinrail_rate_limit_allowed_sync_total",
    "Public requests admitted by a synchronous store upsert (edge of the limit).",
    () => limiter()?.allowedSync ?? 0,
  );
  counter(
    "twinrail_rate_limit_limited_total",
    "Public requests refused (429).",
    () => limiter()?.limited ?? 0,
  );
  counter(
    "twinrail_rate_limit_flushes_total",
    "Flushes of local counters to rate_limit_hits.",
    () => limiter()?.flushes ?? 0,
  );
  counter(
    "twinrail_rate_limit_store_failures_total",
    "Rate-limit store writes that failed (requests let through).",
    () => limiter()?.storeFailures ?? 0,
  );
  gauge("twinrail_rate_limit_buckets", "Buckets tracked in memory.", () => limiter()?.buckets ?? 0);

  const visits = () => services.visits?.stats;
  gauge(
    "twinrail_visits_pending",
    "Visits counted in memory, not yet written.",
    () => services.visits?.size ?? 0,
  );
  counter(
    "twinrail_visits_flushed_total",
    "Visits written to the database by the visit buffer.",
    () => visits()?.flushedVisits ?? 0,
  );
  counter(
    "twinrail_visit_flushes_total",
    "Visit buffer flushes that wrote rows.",
    () => visits()?.flushes ?? 0,
  );
  counter(
    "twinrail_visit_flush_failures_total",
    "Visit buffer flushes that failed (the batch is kept and retried).",
    () => visits()?.failures ?? 0,
  );
}
