import { readWebhookBacklog } from "../ledger/queries/webhook-deliveries.js";
import type { Metrics } from "../metrics/registry.js";
import type { Services } from "../services.js";

/** The outbox's metrics: this process's attempts (counters) and the shared backlog (gauges, one read per scrape). */
export function registerWebhookMetrics(metrics: Metrics, services: Services): void {
  const stats = () => services.webhooks?.stats;
  let cached: { at: number; value: ReturnType<typeof readWebhookBacklog> } | undefined;
  const backlog = () => {
    if (!cached || Date.now() - cached.at > 1000) {
      cached = { at: Date.now(), value: readWebhookBacklog(services.db) };
      cached.value.catch(() => {
        cached = undefined;
      });
    }
    return cached.value;
  };
  metrics.counter({
    name: "twinrail_webhook_attempts_total",
    help: "Outbound webhook attempts made by this process, by outcome.",
    labelNames: ["outcome"],
    read: () => [
      [{ outcome: "delivered" }, stats()?.delivered ?? 0],
      [{ outcome: "failed" }, stats()?.failedAttempts ?? 0],
    ],
  });
  metrics.counter({
    name: "twinrail_webhook_deliveries_failed_total",
    help: "Outbound webhook deliveries this process marked failed (retry schedule spent).",
    read: () => stats()?.failedDeliveries ?? 0,
  });
  metrics.counter({
    name: "twinrail_webhook_endpoints_disabled_total",
    help: "Webhook endpoints this process disabled after 5 days of failures.",
    read: () => stats()?.disabledEndpoints ?? 0,
  });
  metrics.gauge({
    name: "twinrail_webhook_deliveries_pending",
    help: "Outbound webhook deliveries waiting for an attempt.",
    read: async () => (await backlog()).pending,
  });
  metrics.gauge({
    name: "twinrail_webhook_deliveries_failed",
    help: "Outbound webhook deliveries failed and not retried.",
    read: async () => (await backlog()).failed,
  });
  metrics.gauge({
    name: "twinrail_webhook_oldest_pending_age_seconds",
    help: "Age of the oldest pending outbound webhook delivery (0 when none).",
    read: async () => (await backlog()).oldestPendingAgeSeconds,
  });
  metrics.gauge({
    name: "twinrail_webhook_endpoints_disabled",
    help: "Webhook endpoints disabled (failing for 5 days, until enabled again).",
    read: async () => (await backlog()).disabledEndpoints,
  });
}
