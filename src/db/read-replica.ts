import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { Logger } from "pino";
import { asDb, type Db, describeDbError } from "./connect.js";
import type { Database } from "./schema.js";

/**
 * Dashboard and export reads from a streaming replica (`READ_DATABASE_URL`, docs/scaling.md "Read
 * replica"). Every pick says where the read goes and how stale it is: the replica while it answers
 * and its replay lag is at most `maxLagSeconds`, otherwise the primary. The replica is probed at most
 * once a second (one small query), and after a failed probe it is left alone for `retryMs`, so a
 * replica that is down or hangs costs the pages nothing but the fallback.
 */
export interface ReadPick {
  db: Db;
  source: "replica" | "primary";
  /** Replay lag of the replica in seconds (0 when caught up); null when the read goes to the primary. */
  lagSeconds: number | null;
  /** What the read sees is current as of this instant (now for the primary). */
  asOf: Date;
}

export interface ReplicaStatus {
  configured: true;
  /** The last probe answered. */
  ok: boolean;
  /** Where dashboard reads go right now. */
  reads: "replica" | "primary";
  /** Why they go to the primary (down, lagging, not a standby), or null. */
  fallbackReason: string | null;
  lagSeconds: number | null;
  maxLagSeconds: number;
  replayedAt: string | null;
  checkedAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

export interface ReadReplicaOptions {
  url: string;
  schema?: string;
  maxLagSeconds: number;
  /** How long a probe result is trusted (ms). Default 1000. */
  probeEveryMs?: number;
  /** After a failed probe, how long reads stay on the primary before the next probe (ms). Default 5000. */
  retryMs?: number;
  /** A probe (and a connection to the replica) gives up after this long (ms). Default 1000. */
  timeoutMs?: number;
  logger?: Pick<Logger, "warn" | "info">;
}

interface Probe {
  at: number;
  ok: boolean;
  lagSeconds: number | null;
  replayedAt: Date | null;
  inRecovery: boolean;
}

export class ReadReplica {
  readonly db: Db;
  private readonly pool: pg.Pool;
  private last: Probe | undefined;
  private inFlight: Promise<Probe> | undefined;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;

  constructor(
    private readonly primary: Db,
    private readonly options: ReadReplicaOptions,
  ) {
    const settings = [
      ...(options.schema ? [`search_path=${options.schema}`] : []),
      "default_transaction_read_only=on",
      "idle_in_transaction_session_timeout=60000",
    ];
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: 5,
      connectionTimeoutMillis: options.timeoutMs ?? 1000,
      keepAlive: true,
      options: settings.map((setting) => `-c ${setting}`).join(" "),
    });
    // An idle client whose server went away emits 'error'; unhandled it would end the process.
    this.pool.on("error", () => undefined);
    this.pool.on("connect", (client) => client.on("error", () => undefined));
    this.db = asDb(new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) }));
  }

  /** Where the next dashboard read goes, probing the replica when the last probe is too old. */
  async pick(): Promise<ReadPick> {
    const probe = await this.current();
    if (this.usable(probe)) {
      const lag = probe.lagSeconds ?? 0;
      return { db: this.db, source: "replica", lagSeconds: lag, asOf: new Date(Date.now() - lag * 1000) };
    }
    return { db: this.primary, source: "primary", lagSeconds: null, asOf: new Date() };
  }

  /** For `/readyz`: the last probe, refreshed when old. */
  async status(): Promise<ReplicaStatus> {
    const probe = await this.current();
    const usable = this.usable(probe);
    return {
      configured: true,
      ok: probe.ok,
      reads: usable ? "replica" : "primary",
      fallbackReason: usable ? null : this.fallbackReason(probe),
      lagSeconds: probe.lagSeconds,
      maxLagSeconds: this.options.maxLagSeconds,
      replayedAt: probe.replayedAt?.toISOString() ?? null,
      checkedAt: probe.at ? new Date(probe.at).toISOString() : null,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt?.toISOString() ?? null,
    };
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  private usable(probe: Probe): boolean {
    return probe.ok && (probe.lagSeconds ?? 0) <= this.options.maxLagSeconds;
  }

  private fallbackReason(probe: Probe): string {
    if (!probe.ok) return `replica unavailable: ${this.lastError ?? "no answer"}`;
    return `replica lags ${probe.lagSeconds?.toFixed(1)} s (more than READ_MAX_LAG_SECONDS=${this.options.maxLagSeconds})`;
  }

  private async current(): Promise<Probe> {
    const last = this.last;
    const age = last ? Date.now() - last.at : Number.POSITIVE_INFINITY;
    const fresh = last?.ok ? (this.options.probeEveryMs ?? 1000) : (this.options.retryMs ?? 5000);
    if (last && age < fresh) return last;
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async probe(): Promise<Probe> {
    const at = Date.now();
    const timeoutMs = this.options.timeoutMs ?? 1000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const query = sql<{ in_recovery: boolean; lag_seconds: string | null; replayed_at: Date | null }>`
        SELECT pg_is_in_recovery() AS in_recovery,
               CASE WHEN NOT pg_is_in_recovery() THEN 0
                    -- Caught up: streaming, and everything received is replayed (an idle primary
                    -- writes nothing, so the last replayed commit can be old without any lag).
                    WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                         AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                    ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
               END::text AS lag_seconds,
               pg_last_xact_replay_timestamp() AS replayed_at`.execute(this.db);
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`replica probe timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      query.catch(() => undefined);
      const row = (await Promise.race([query, timeout])).rows[0];
      const lagSeconds =
        row?.lag_seconds === null || row?.lag_seconds === undefined ? null : Number(row.lag_seconds);
      const probe: Probe = {
        at,
        ok: true,
        // A standby that never replayed a commit (fresh base backup) has no timestamp: treat as stale.
        lagSeconds: row?.in_recovery && lagSeconds === null ? Number.POSITIVE_INFINITY : lagSeconds,
        replayedAt: row?.replayed_at ? new Date(row.replayed_at) : null,
        inRecovery: row?.in_recovery ?? false,
      };
      if (this.last && !this.last.ok) this.options.logger?.info({}, "read replica reachable again");
      this.last = probe;
      return probe;
    } catch (error) {
      if (!this.last || this.last.ok)
        this.options.logger?.warn(
          { db: describeDbError(error) },
          "read replica unavailable: dashboard reads go to the primary",
        );
      this.lastError = describeDbError(error);
      this.lastErrorAt = new Date();
      this.last = { at, ok: false, lagSeconds: null, replayedAt: null, inRecovery: false };
      return this.last;
    } finally {
      clearTimeout(timer);
    }
  }
}
