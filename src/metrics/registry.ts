import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics, on prom-client. Two registries make up `/metrics`:
 * - `processRegistry`: what belongs to the OS process — prom-client's default process and Node.js
 *   metrics, and counters kept in module state (the database transaction counters of
 *   src/db/transaction.ts). Registered once per process.
 * - one `Metrics` per running instance (`services.metrics`): the HTTP duration histogram, the minter,
 *   the visit buffer, the public path, … Tests run several instances in one process; each has its own.
 *
 * Adding a metric: `services.metrics.counter({ name, help, read })` (or `gauge`, or
 * `processMetrics.counter` for module-level state). `read` is called at scrape time and returns the
 * value, or `[labels, value]` pairs: the hot paths keep plain number fields and pay nothing per
 * request. Without `read` you get prom-client's live metric (`.inc()`, `.set()`, `.labels()`).
 * Every metric needs a `help` (promtool refuses a family without `# HELP`); counters end in `_total`.
 */

export type Labels = Record<string, string>;
/** A value, or one value per label set. */
export type Sample = number | bigint | ReadonlyArray<readonly [Labels, number | bigint]>;

export interface MetricSpec {
  name: string;
  help: string;
  labelNames?: readonly string[];
  /** Called on every scrape (may be async, e.g. a database count). */
  read?: () => Sample | Promise<Sample>;
}

/** prom-client's default metrics that `promtool check metrics` rejects (gauges named `_total`). */
const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

export class Metrics {
  readonly registry = new Registry();

  /** A counter; with `read`, its value is taken from `read` at scrape time. */
  counter(spec: MetricSpec): Counter<string> {
    const { read } = spec;
    return new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      ...(read
        ? {
            async collect(this: Counter<string>) {
              const sample = await read();
              this.reset();
              each(sample, (labels, value) => this.inc(labels, value));
            },
          }
        : {}),
    });
  }

  /** A gauge; with `read`, its value is taken from `read` at scrape time. */
  gauge(spec: MetricSpec): Gauge<string> {
    const { read } = spec;
    return new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      ...(read
        ? {
            async collect(this: Gauge<string>) {
              const sample = await read();
              this.reset();
              each(sample, (labels, value) => this.set(labels, value));
            },
          }
        : {}),
    });
  }

  histogram(spec: Omit<MetricSpec, "read"> & { buckets: number[] }): Histogram<string> {
    return new Histogram({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      buckets: spec.buckets,
      registers: [this.registry],
    });
  }

  /** The exposition text: the process metrics, then this instance's. */
  async text(): Promise<string> {
    ensureProcessMetrics();
    const [process, instance] = await Promise.all([
      processMetrics.registry.metrics(),
      this.registry.metrics(),
    ]);
    return `${process}${process.endsWith("\n") || !process ? "" : "\n"}${instance}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function each(sample: Sample, fn: (labels: Labels, value: number) => void): void {
  if (typeof sample === "number" || typeof sample === "bigint") fn({}, Number(sample));
  else for (const [labels, value] of sample) fn(labels, Number(value));
}

/** Metrics of the OS process (module state); default process metrics are added on first scrape. */
export const processMetrics = new Metrics();

let defaultsRegistered = false;
function ensureProcessMetrics(): void {
  if (defaultsRegistered) return;
  defaultsRegistered = true;
  collectDefaultMetrics({ register: processMetrics.registry });
  for (const name of LINT_FAILING_DEFAULTS) processMetrics.registry.removeSingleMetric(name);
}
