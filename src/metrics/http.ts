import type { RequestHandler } from "express";
import type { Histogram } from "prom-client";
import type { Metrics } from "./registry.js";

/** Seconds; the redirect fast path answers in well under a millisecond, the API in a few. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What requests no route matched (static assets, 404s) are labelled with, never the raw URL. */
export const NO_ROUTE = "(none)";

export function httpDurationHistogram(metrics: Metrics): Histogram<string> {
  return metrics.histogram({
    name: "twinrail_http_request_duration_seconds",
    help: "HTTP request duration by method, route pattern (express route, never the raw URL) and status.",
    labelNames: ["method", "route", "status"],
    buckets: BUCKETS,
  });
}

/**
 * express middleware (mounted first): observes each response's duration under the route pattern that
 * answered it (`req.route.path`, e.g. `/v1/admin/rewards/:id`), or `(none)`.
 */
export function httpMetricsMiddleware(histogram: Histogram<string>): RequestHandler {
  return (req, res, next) => {
    const start = performance.now();
    res.once("finish", () => {
      const route = req.route as { path?: unknown } | undefined;
      const pattern = typeof route?.path === "string" ? route.path : NO_ROUTE;
      histogram.observe(
        { method: req.method, route: pattern, status: String(res.statusCode) },
        (performance.now() - start) / 1000,
      );
    });
    next();
  };
}

/** The `/r/:code` fast path's observers, label sets bound once: one `observe` per request. */
export interface RedirectObserver {
  found(start: number): void;
  limited(start: number): void;
  failed(start: number): void;
}

export function redirectObserver(histogram: Histogram<string>): RedirectObserver {
  const bind = (status: string) => {
    const child = histogram.labels({ method: "GET", route: "/r/:code", status });
    return (start: number) => child.observe((performance.now() - start) / 1000);
  };
  return { found: bind("302"), limited: bind("429"), failed: bind("500") };
}
