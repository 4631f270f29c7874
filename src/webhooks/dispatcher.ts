import type { Db } from "../db/connect.js";
import { type ClaimedDelivery, claimDeliveries, recordAttempt } from "../ledger/webhook-deliveries.js";
import { signWebhook } from "../lib/standard-webhooks.js";
import type { createLogger } from "../logger.js";
import type { Services } from "../services.js";
import { messageBody } from "./events.js";
import { type SendResult, sendWebhook, WEBHOOK_TIMEOUT_MS } from "./send.js";

/**
 * Seconds before each attempt, counted from the failure of the one before: the first immediately,
 * then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; a delivery whose last attempt fails is `failed`.
 */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = Object.freeze([
  0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000,
]);

export interface DispatcherOptions {
  db: Db;
  logger: ReturnType<typeof createLogger>;
  /** `WEBHOOK_ALLOW_PRIVATE_TARGETS`. */
  allowPrivate: boolean;
  scheduleSeconds?: readonly number[];
  /** The clock of claims, retries and signatures (tests move it instead of waiting). */
  now?: () => Date;
  pollMs?: number;
  /** How long a claim is held before another run may take the delivery again. */
  leaseMs?: number;
  batchSize?: number;
  timeoutMs?: number;
}

export interface DispatcherStats {
  attempts: number;
  delivered: number;
  failedAttempts: number;
  /** Deliveries whose schedule ran out. */
  failedDeliveries: number;
  disabledEndpoints: number;
}

/** The `webhook-*` headers of one attempt: both secrets sign while a rotation's overlap lasts. */
export function signedHeaders(delivery: ClaimedDelivery, body: string, now: Date): Record<string, string> {
  const id = `msg_${delivery.messageId}`;
  const timestamp = Math.floor(now.getTime() / 1000);
  const signatures = [signWebhook(delivery.secret, id, timestamp, body)];
  if (delivery.previousSecret && delivery.previousSecretExpiresAt && delivery.previousSecretExpiresAt > now) {
    signatures.push(signWebhook(delivery.previousSecret, id, timestamp, body));
  }
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatures.join(" "),
  };
}

/**
 * The outbox's delivery job: claims due deliveries (`claimDeliveries`, SKIP LOCKED, so any number of
 * instances share the work), POSTs each signed message with a 15 s timeout and records the outcome,
 * scheduling the next attempt. Everything it needs is in the database, so a restart or a kill -9
 * loses nothing: an attempt cut short is attempted again when its lease ends.
 */
export class WebhookDispatcher {
  readonly stats: DispatcherStats = {
    attempts: 0,
    delivered: 0,
    failedAttempts: 0,
    failedDeliveries: 0,
    disabledEndpoints: 0,
  };
  private readonly schedule: readonly number[];
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(private readonly options: DispatcherOptions) {
    this.schedule = options.scheduleSeconds ?? DEFAULT_RETRY_SCHEDULE_SECONDS;
    this.now = options.now ?? (() => new Date());
  }

  /** When attempt `attempt` (1-based) failed at `now`, when to try again; null = schedule spent. */
  retryAt(attempt: number, now: Date): Date | null {
    const delay = this.schedule[attempt];
    return delay === undefined ? null : new Date(now.getTime() + delay * 1000);
  }

  /** One pass: claims a batch and delivers it. Returns how many deliveries were attempted. */
  async runOnce(): Promise<number> {
    const claimed = await claimDeliveries(this.options.db, {
      now: this.now(),
      limit: this.options.batchSize ?? 20,
      leaseMs: this.options.leaseMs ?? (this.options.timeoutMs ?? WEBHOOK_TIMEOUT_MS) * 4,
    });
    await Promise.all(claimed.map((delivery) => this.attempt(delivery)));
    return claimed.length;
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    let result: SendResult;
    try {
      const body = messageBody({
        event_type: delivery.eventType,
        snapshot: delivery.snapshot,
        created_at: delivery.messageCreatedAt,
      });
      result = await sendWebhook(delivery.url, signedHeaders(delivery, body, this.now()), body, {
        allowPrivate: this.options.allowPrivate,
        timeoutMs: this.options.timeoutMs,
      });
    } catch (error) {
      result = { statusCode: null, error: (error as Error).message, durationMs: 0 };
    }
    const now = this.now();
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const retryAt = ok ? null : this.retryAt(delivery.attempt, now);
    const recorded = await recordAttempt(this.options.db, delivery, { ...result, ok, retryAt }, now);
    this.stats.attempts++;
    if (ok) this.stats.delivered++;
    else this.stats.failedAttempts++;
    if (!ok && !retryAt) this.stats.failedDeliveries++;
    if (recorded.disabled) this.stats.disabledEndpoints++;
    const log = {
      delivery: delivery.id.toString(),
      endpoint: delivery.endpointId.toString(),
      attempt: delivery.attempt,
    };
    if (recorded.disabled) this.options.logger.warn(log, "webhook endpoint disabled: failing for 5 days");
    if (!ok) {
      this.options.logger[retryAt ? "info" : "warn"](
        { ...log, statusCode: result.statusCode, error: result.error, retryAt },
        retryAt ? "webhook attempt failed; will retry" : "webhook delivery failed: retries exhausted",
      );
    }
  }

  /** Polls every `pollMs` (at once again while batches come back full) until `close`. */
  start(): void {
    const pollMs = this.options.pollMs ?? 1000;
    const tick = async () => {
      if (this.stopped) return;
      let claimed = 0;
      this.running = this.runOnce()
        .then((n) => {
          claimed = n;
        })
        .catch((error) => this.options.logger.error({ err: error }, "webhook delivery pass failed"));
      await this.running;
      if (this.stopped) return;
      const full = claimed >= (this.options.batchSize ?? 20);
      this.timer = setTimeout(tick, full ? 0 : pollMs);
      this.timer.unref?.();
    };
    this.timer = setTimeout(tick, 0);
    this.timer.unref?.();
  }

  /** Stops polling and waits for the attempts in flight to be recorded. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}

declare module "../services.js" {
  interface Services {
    /** The outbound webhooks' delivery job (started with the other jobs). */
    webhooks?: WebhookDispatcher;
  }
}

/** The dispatcher a service runs, configured from `WEBHOOK_*` (src/config.ts). */
export function createWebhookDispatcher(services: Services, db: Db): WebhookDispatcher {
  const { config } = services;
  return new WebhookDispatcher({
    db,
    logger: services.logger.child({ job: "webhooks" }),
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE_TARGETS ?? config.demo,
    scheduleSeconds: config.WEBHOOK_RETRY_SCHEDULE?.split(",").map(Number),
  });
}
