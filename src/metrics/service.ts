import { registerPublicPathMetrics } from "../http/public-metrics.js";
import { countRewardsByStatus, readMintQueue } from "../ledger/queries/mint-queue.js";
import type { Services } from "../services.js";
import { registerWebhookMetrics } from "../webhooks/metrics.js";
import { httpDurationHistogram, redirectObserver } from "./http.js";
import { Metrics, type Sample } from "./registry.js";

declare module "../services.js" {
  interface Services {
    /** This instance's metrics (`/metrics`); add yours with `services.metrics.counter(…)`. */
    metrics?: ServiceMetrics;
  }
}

export interface ServiceMetrics extends Metrics {
  http: ReturnType<typeof httpDurationHistogram>;
  redirect: ReturnType<typeof redirectObserver>;
}

/**
 * One read of a database figure per scrape, however many gauges show parts of it: the gauges of one
 * scrape share the read, and the next scrape reads again (the read is forgotten once it has settled and
 * the scrape's pending callbacks have run; a time-based cache showed a figure from before a change to a
 * scrape made right after it).
 */
function perScrape<T>(fn: () => Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    if (!cached) {
      const value = fn();
      cached = value;
      const forget = () =>
        setImmediate(() => {
          if (cached === value) cached = undefined;
        });
      value.then(forget, forget);
    }
    return cached;
  };
}

/** Builds an instance's registry: HTTP, the minter, the ledger's queue, the public path, the visits. */
export function createServiceMetrics(services: Services): ServiceMetrics {
  const metrics = new Metrics() as ServiceMetrics;
  metrics.http = httpDurationHistogram(metrics);
  metrics.redirect = redirectObserver(metrics.http);
  registerMinterMetrics(metrics, services);
  registerPublicPathMetrics(metrics, services);
  registerWebhookMetrics(metrics, services);
  return metrics;
}

function registerMinterMetrics(metrics: Metrics, services: Services): void {
  const stats = () => services.minter.stats;
  const queue = perScrape(() => readMintQueue(services.db));
  const counter = (name: string, help: string, read: () => Sample | Promise<Sample>, labelNames?: string[]) =>
    metrics.counter({ name, help, read, labelNames });
  const gauge = (name: string, help: string, read: () => Sample | Promise<Sample>, labelNames?: string[]) =>
    metrics.gauge({ name, help, read, labelNames });

  gauge(
    "twinrail_mint_queue_depth",
    "Approved rewards waiting to be minted.",
    async () => (await queue()).approved,
  );
  gauge(
    "twinrail_mint_in_flight_batches",
    "Mint batches claimed or signed and not resolved yet.",
    async () => (await queue()).openBatches,
  );
  gauge(
    "twinrail_mint_oldest_approved_age_seconds",
    "Age of the oldest approved reward (0 when none).",
    async () => (await queue()).oldestApprovedAgeSeconds,
  );
  gauge(
    "twinrail_mint_blocked",
    "1 while the minter backs off after a global revert (paused, mint cap).",
    () => (stats().blockedReason ? 1 : 0),
  );
  gauge("twinrail_mint_running", "1 while a mint run is in progress in this process.", () =>
    stats().running ? 1 : 0,
  );
  gauge(
    "twinrail_mint_waiting_for_period",
    "Rewards the last run held back for the next period (mint cap).",
    () => stats().waitingForPeriod,
  );
  counter(
    "twinrail_mint_deferred_for_gas_total",
    "Claimed rewards moved to a later batch: the transaction would not fit them.",
    () => stats().deferredForGas,
  );
  counter(
    "twinrail_mint_failures_by_kind_total",
    "Minter failures by kind.",
    () => Object.entries(stats().failuresByKind).map(([kind, n]) => [{ kind }, n] as const),
    ["kind"],
  );
  counter(
    "twinrail_mint_fee_bumps_total",
    "Stuck transactions replaced with a higher fee.",
    () => stats().feeBumps,
  );
  gauge(
    "twinrail_rewards",
    "Rewards by status.",
    async () =>
      (await countRewardsByStatus(services.db)).map((row) => [{ status: row.status }, row.n] as const),
    ["status"],
  );
  counter("twinrail_mint_batches_total", "Mint batches started by this process.", () => stats().batches);
  counter("twinrail_minted_rewards_total", "Rewards minted by this process.", () => stats().minted);
  counter("twinrail_mint_failures_total", "Minter failures of any kind.", () => stats().failures);
  counter(
    "twinrail_mint_gas_used_total",
    "Gas used by this process's mint transactions.",
    () => stats().gasUsed,
  );
  gauge(
    "twinrail_mint_last_success_timestamp_seconds",
    "Unix time of the last successful mint (0 when none).",
    () => {
      const at = stats().lastSuccessAt;
      return at ? Math.floor(at.getTime() / 1000) : 0;
    },
  );
}
