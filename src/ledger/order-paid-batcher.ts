import type { Logger } from "pino";
import type { Db } from "../db/connect.js";
import { processMetrics } from "../metrics/registry.js";
import { recordOrderPaid } from "./record-order-paid.js";
import {
  type BatchItem,
  groupable,
  type LeaveReason,
  recordOrderPaidBatch,
} from "./record-order-paid-batch.js";
import { recordWebhook, type WebhookOutcome } from "./record-webhook.js";

interface Pending {
  item: BatchItem;
  resolve: (outcome: WebhookOutcome) => void;
  reject: (error: unknown) => void;
}

export interface BatcherOptions {
  /** Events per grouped transaction at most (`INGEST_BATCH_MAX`; 1 = one transaction per event). */
  maxBatch: number;
  /** Transactions (grouped or single) this process runs for `order.paid` at once (`INGEST_BATCH_IN_FLIGHT`). */
  maxInFlight: number;
  /**
   * While one runs, deliveries that must wait before a further transaction opens beside it
   * (`INGEST_BATCH_OVERLAP_MIN`; 1 = as soon as one waits). Fewer wait for the next free turn.
   */
  overlapMin?: number;
  /**
   * How long fewer than `overlapMin` deliveries wait for the running transaction before a further one
   * opens for them anyway (`INGEST_BATCH_OVERLAP_WAIT_MS`): a transaction waiting on a lock does not
   * hold back light traffic.
   */
  overlapWaitMs?: number;
  /** Where a group that failed on an error (not on a rule) is logged before its events go one by one. */
  logger?: Pick<Logger, "warn">;
}

const stats = {
  batches: 0,
  batchedEvents: 0,
  single: 0,
  left: {} as Record<LeaveReason, number>,
};

/**
 * Group commit for `order.paid` deliveries that carry their order: a delivery is recorded at once when
 * no order.paid transaction runs; otherwise it waits, and the next transaction takes every delivery
 * that waited meanwhile (up to `maxBatch`, with distinct webhook ids, orders and buyers) in one grouped
 * transaction (record-order-paid-batch.ts). A further transaction opens beside a running one (up to
 * `maxInFlight`) only once `overlapMin` deliveries wait, or once the oldest waited `overlapWaitMs`:
 * opened for every delivery that arrived, it recorded one in six alone under load, at twice the cost
 * of a grouped one (docs/scaling.md). So a lone delivery is answered as fast as before, and under load
 * the per-statement and per-commit costs are shared by the group. Each delivery is answered after its
 * transaction commits; one the group could not record (a redelivery, or anything off the common path)
 * is recorded by the one-event path, which gives its own answer.
 */
export class OrderPaidBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private overlapTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly config: Parameters<typeof recordOrderPaid>[1],
    private readonly options: BatcherOptions,
  ) {}

  /** Records one delivery (grouped with others when they wait together) and answers its outcome. */
  record(item: BatchItem): Promise<WebhookOutcome> {
    if (this.options.maxBatch <= 1 || !groupable(item)) return this.single(item);
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  /** Starts transactions while slots are free and the rules allow; `overdue` lets one open regardless. */
  private pump(overdue = false): void {
    const overlapMin = this.options.overlapMin ?? 1;
    while (
      this.inFlight < this.options.maxInFlight &&
      this.queue.length > 0 &&
      (this.inFlight === 0 || overdue || this.queue.length >= overlapMin)
    ) {
      overdue = false;
      const group = this.take();
      this.inFlight++;
      void this.run(group)
        // Never leave a request waiting: whatever escaped (a bug) fails the deliveries still unanswered
        // (rejecting an answered one does nothing).
        .catch((error) => {
          for (const pending of group) pending.reject(error);
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
    // Deliveries left waiting for too few to open a transaction beside the running one: bounded.
    if (this.queue.length > 0 && this.inFlight < this.options.maxInFlight && !this.overlapTimer) {
      this.overlapTimer = setTimeout(() => {
        this.overlapTimer = undefined;
        this.pump(true);
      }, this.options.overlapWaitMs ?? 25);
      this.overlapTimer.unref();
    }
  }

  /** The waiting deliveries, oldest first, that can share one transaction; the rest keep waiting. */
  private take(): Pending[] {
    const group: Pending[] = [];
    const eventIds = new Set<string>();
    const orders = new Set<string>();
    const buyers = new Set<string>();
    for (let i = 0; i < this.queue.length && group.length < this.options.maxBatch; ) {
      const pending = this.queue[i]!;
      const { delivery, event } = pending.item;
      const buyer = event.order.buyerMemberId ?? null;
      if (
        eventIds.has(delivery.eventId) ||
        orders.has(event.orderReference) ||
        (buyer !== null && buyers.has(buyer))
      ) {
        i++;
        continue;
      }
      eventIds.add(delivery.eventId);
      orders.add(event.orderReference);
      if (buyer !== null) buyers.add(buyer);
      group.push(pending);
      this.queue.splice(i, 1);
    }
    return group;
  }

  private async run(group: Pending[]): Promise<void> {
    if (group.length === 1) {
      const [only] = group;
      await this.single(only!.item).then(only!.resolve, only!.reject);
      return;
    }
    const { recorded, rest, left, error } = await recordOrderPaidBatch(
      this.db,
      this.config,
      group.map((pending) => pending.item),
    );
    stats.batches++;
    stats.batchedEvents += recorded.size;
    if (left) stats.left[left] = (stats.left[left] ?? 0) + 1;
    if (error) {
      this.options.logger?.warn(
        { err: error, deliveries: group.length },
        "grouped order.paid failed; recording its deliveries one by one",
      );
    }
    const waiting = new Set(rest);
    for (const pending of group) {
      const outcome = recorded.get(pending.item.delivery.eventId);
      if (outcome && !waiting.has(pending.item)) pending.resolve(outcome);
    }
    await Promise.all(
      group
        .filter((pending) => waiting.has(pending.item))
        .map((pending) => this.single(pending.item).then(pending.resolve, pending.reject)),
    );
  }

  private single(item: BatchItem): Promise<WebhookOutcome> {
    stats.single++;
    return recordWebhook(this.db, item.delivery, (trx) =>
      recordOrderPaid(trx, this.config, item.actor, item.event),
    );
  }
}

processMetrics.counter({
  name: "twinrail_ingest_batches_total",
  help: "Grouped order.paid transactions attempted (two or more deliveries).",
  read: () => stats.batches,
});
processMetrics.counter({
  name: "twinrail_ingest_batched_events_total",
  help: "order.paid deliveries recorded by a grouped transaction.",
  read: () => stats.batchedEvents,
});
processMetrics.counter({
  name: "twinrail_ingest_single_events_total",
  help: "order.paid deliveries recorded (or answered) by the one-event path.",
  read: () => stats.single,
});
processMetrics.counter({
  name: "twinrail_ingest_batches_left_total",
  help: "Grouped order.paid transactions rolled back for the one-event path, by reason.",
  labelNames: ["reason"],
  read: () => Object.entries(stats.left).map(([reason, n]) => [{ reason }, n]),
});
