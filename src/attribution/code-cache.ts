import { sql } from "kysely";
import type { Logger } from "pino";
import type { Db } from "../db/connect.js";
import { normalizeCode } from "../domain/codes.js";

/** An active code as the public sees it. */
export interface PublicCode {
  code: string;
  displayName: string | null;
}

export interface CodeCacheOptions {
  /**
   * Most active codes held. While every active code fits, the cache holds them all ("complete"): an
   * unknown code is then answered from memory too. Beyond it, the most recently loaded ones.
   */
  maxEntries?: number;
  /** Partial mode only: most unknown/inactive lookups kept, apart so a spray of random codes cannot evict real ones. */
  maxMisses?: number;
  /** Partial mode: how long an entry (hit or miss) is kept at most. Complete mode: full reload period. */
  ttlMs?: number;
  /** How often `code_cache_version` is polled (≤ 500 ms keeps other instances within a second). */
  pollMs?: number;
  logger?: Logger;
}

export interface CodeCacheStats {
  complete: boolean;
  hits: number;
  misses: number;
  negativeHits: number;
  loads: number;
  evictions: number;
  invalidations: number;
  size: number;
  negativeSize: number;
  version: string | null;
}

interface Entry {
  value: PublicCode | null;
  expiresAt: number;
}

/** A Map with a size cap and expiry; the oldest loaded entry is evicted first (entries live ≤ TTL anyway). */
class BoundedMap {
  private map = new Map<string, Entry>();
  evictions = 0;
  constructor(private readonly max: number) {}
  get size() {
    return this.map.size;
  }
  get(key: string, now: number): Entry | undefined {
    const entry = this.map.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.map.delete(key);
      return undefined;
    }
    // No recency refresh on a hit: a delete+set per request costs more than the lookup, and every
    // entry is reloaded within the TTL anyway.
    return entry;
  }
  set(key: string, entry: Entry) {
    this.map.delete(key);
    this.map.set(key, entry);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
      this.evictions += 1;
    }
  }
  delete(key: string) {
    this.map.delete(key);
  }
  clear() {
    this.map.clear();
  }
}

/** Every cache in this process; `codesChanged()` reaches them all. */
const caches = new Set<CodeCache>();

/** After a `codesChanged()`, memory is bypassed until a poll that started at least this long after it. */
const HOLD_MS = 100;

/**
 * Tells every code cache in this process that a code or an owner's display name is changing (called
 * by `issueCode` and `updateMember` inside their transaction, just before it commits). Each cache at
 * once stops answering from memory — every lookup reads the database, known or unknown code alike —
 * until a poll that started at least 100 ms after the last such call has completed (and applied
 * whatever was committed by then). The commit follows the call by one round trip, so in this process
 * the state before the change is not served after it; a commit slower than 100 ms, or a rolled-back
 * one, is still caught by the regular version poll. Other processes see it at their next poll (≤ `pollMs`).
 */
export function codesChanged(): void {
  for (const cache of caches) cache.hold();
}

/**
 * The public code lookup behind `/r/:code`, `/v1/track` and `/v1/referral`: active code → owner's
 * display name, in memory.
 *
 * - Complete while every active code fits in `maxEntries` (default 200,000): all of them are loaded
 *   at start, and unknown, inactive or malformed codes are answered from memory exactly like known
 *   ones — one map lookup either way, no query, the same timing (no enumeration oracle).
 * - Partial beyond that: the most recently loaded `maxEntries` codes and `maxMisses` misses (misses
 *   are cached too), each for `ttlMs` (60 s); a code not in memory costs one query, known or not.
 * - Follows the database through `code_cache_version` (migration 0006): polled every `pollMs` (250
 *   ms) in one statement that also returns the code rows stamped since the last poll, which are
 *   applied (complete) or dropped (partial). A version row and not LISTEN/NOTIFY, so that it works
 *   through a transaction-pooling pgbouncer. Complete mode also reloads everything every `ttlMs` × 10.
 * - In this process `codesChanged()` (see above) takes effect at once.
 * - A load that started before a change was applied is not stored (generation check).
 */
export class CodeCache {
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly pollMs: number;
  /** Complete mode: every active code. */
  private all = new Map<string, PublicCode>();
  private complete = false;
  /** Partial mode. */
  private readonly hitsMap: BoundedMap;
  private readonly missMap: BoundedMap;
  private generation = 0;
  private version: string | undefined;
  private holding = false;
  private lastHoldAt = 0;
  private holdTimer: NodeJS.Timeout | undefined;
  private lastFullLoad = 0;
  private inflight = new Map<string, Promise<PublicCode | null>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollFailures = 0;
  private closed = false;
  private counters = { hits: 0, misses: 0, negativeHits: 0, loads: 0, invalidations: 0 };

  constructor(
    private readonly db: Db,
    private readonly options: CodeCacheOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? 200_000;
    this.hitsMap = new BoundedMap(this.maxEntries);
    this.missMap = new BoundedMap(options.maxMisses ?? 20_000);
    this.ttlMs = options.ttlMs ?? 60_000;
    this.pollMs = Math.min(options.pollMs ?? 250, 500);
    caches.add(this);
  }

  /** Loads the codes (or learns the version), then polls (the timer never keeps the process alive). */
  async start(): Promise<void> {
    await this.poll();
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.timer = undefined;
    caches.delete(this);
    this.clear();
  }

  /** Empties the cache (complete mode is left until the next full load); loads in flight are not stored. */
  clear(): void {
    this.generation += 1;
    this.counters.invalidations += 1;
    this.complete = false;
    this.all = new Map();
    this.hitsMap.clear();
    this.missMap.clear();
    this.inflight.clear();
    this.version = undefined;
  }

  /** Stops answering from memory until a poll started ≥ HOLD_MS after the last call has completed. */
  hold(): void {
    if (this.closed) return;
    this.holding = true;
    this.lastHoldAt = Date.now();
    this.generation += 1;
    this.counters.invalidations += 1;
    this.inflight.clear();
    this.holdTimer ??= setTimeout(() => void this.releaseHold(), HOLD_MS).unref();
  }

  private async releaseHold(): Promise<void> {
    this.holdTimer = undefined;
    if (this.closed) return;
    const wait = this.lastHoldAt + HOLD_MS - Date.now();
    if (wait > 0) {
      this.holdTimer = setTimeout(() => void this.releaseHold(), wait).unref();
      return;
    }
    // A poll already running may have read before the commit: let it end, then one of our own.
    await this.polling;
    const startedAt = Date.now();
    await this.poll();
    const ok = this.pollFailures === 0;
    if (ok && this.lastHoldAt + HOLD_MS <= startedAt) this.holding = false;
    else if (!this.closed) this.holdTimer ??= setTimeout(() => void this.releaseHold(), HOLD_MS).unref();
  }

  /** The normalized form of a raw code, or "" when it cannot be one (answered as a miss like any other). */
  key(raw: unknown): string {
    const normalized = normalizeCode(raw);
    return normalized.ok ? normalized.code : "";
  }

  /** The cached answer for a normalized key: a code, null (not an active code), or undefined (ask the database). */
  peek(key: string, now = Date.now()): PublicCode | null | undefined {
    if (this.holding) return undefined;
    if (this.complete) {
      const value = this.all.get(key);
      if (value) this.counters.hits += 1;
      else this.counters.negativeHits += 1;
      return value ?? null;
    }
    const hit = this.hitsMap.get(key, now);
    if (hit) {
      this.counters.hits += 1;
      return hit.value;
    }
    const miss = this.missMap.get(key, now);
    if (miss) {
      this.counters.negativeHits += 1;
      return null;
    }
    return undefined;
  }

  /** The active code for a raw input, from memory or one query (shared by concurrent callers). */
  lookup(raw: unknown): Promise<PublicCode | null> | PublicCode | null {
    const key = this.key(raw);
    const cached = this.peek(key);
    if (cached !== undefined) return cached;
    return this.load(key);
  }

  /** Reads a normalized key from the database (the same one query for known and unknown codes). */
  load(key: string): Promise<PublicCode | null> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    this.counters.misses += 1;
    this.counters.loads += 1;
    const generation = this.generation;
    const promise = this.db
      .selectFrom("referral_codes as c")
      .innerJoin("members as m", "m.member_id", "c.owner_member_id")
      .select(["c.code", "m.display_name"])
      .where("c.code", "=", key)
      .where("c.active", "=", true)
      .executeTakeFirst()
      .then(
        (row) => {
          const value = row ? { code: row.code, displayName: row.display_name } : null;
          if (this.inflight.get(key) === promise) this.inflight.delete(key);
          const now = Date.now();
          if (generation === this.generation && !this.complete && !this.holding) {
            (value ? this.hitsMap : this.missMap).set(key, { value, expiresAt: now + this.ttlMs });
          }
          return value;
        },
        (error: unknown) => {
          if (this.inflight.get(key) === promise) this.inflight.delete(key);
          throw error;
        },
      );
    this.inflight.set(key, promise);
    return promise;
  }

  get stats(): CodeCacheStats {
    return {
      ...this.counters,
      complete: this.complete,
      evictions: this.hitsMap.evictions + this.missMap.evictions,
      size: this.complete ? this.all.size : this.hitsMap.size,
      negativeSize: this.complete ? 0 : this.missMap.size,
      version: this.version ?? null,
    };
  }

  /** One poll: a full load when needed, else the version and whatever changed since, in one statement. */
  poll(): Promise<void> {
    this.polling ??= this.pollNow().then(
      () => {
        this.polling = undefined;
      },
      () => {
        this.polling = undefined;
      },
    );
    return this.polling;
  }

  /** One poll; resolves to whether it succeeded. */
  private async pollNow(): Promise<boolean> {
    try {
      const due =
        this.version === undefined || (this.complete && Date.now() - this.lastFullLoad > this.ttlMs * 10);
      if (due) await this.fullLoad();
      else await this.applyChanges();
      this.pollFailures = 0;
      return true;
    } catch (error) {
      // Keep what we have: the next successful poll applies everything stamped since `version`.
      if (this.pollFailures === 0) {
        this.options.logger?.error({ err: error }, "code cache poll failed; serving what is cached");
      }
      this.pollFailures += 1;
      return false;
    }
  }

  private async fullLoad(): Promise<void> {
    const head = await sql<{ version: string; active: number }>`
      SELECT version::text AS version, (SELECT count(*) FROM referral_codes WHERE active)::int AS active
      FROM code_cache_version WHERE id = 1`.execute(this.db);
    const count = head.rows[0]?.active ?? 0;
    if (count > this.maxEntries) {
      // Too many to hold: partial mode, invalidated by the stamped rows from this version on.
      if (this.closed) return;
      if (this.complete) this.clear();
      this.version = head.rows[0]?.version;
      return;
    }
    // One statement, one snapshot: the version and exactly the codes it covers.
    const result = await sql<{ version: string; code: string | null; display_name: string | null }>`
      SELECT v.version::text AS version, c.code, m.display_name
      FROM code_cache_version v
      LEFT JOIN referral_codes c ON c.active
      LEFT JOIN members m ON m.member_id = c.owner_member_id
      WHERE v.id = 1`.execute(this.db);
    // A consistent snapshot with its version: later changes come with the next polls.
    const version = result.rows[0]?.version;
    if (this.closed || version === undefined) return;
    // Older than what polls applied meanwhile: keep theirs.
    if (this.version !== undefined && newer(this.version, version)) return;
    const all = new Map<string, PublicCode>();
    for (const row of result.rows) {
      if (row.code) all.set(row.code, { code: row.code, displayName: row.display_name });
    }
    this.generation += 1;
    this.all = all;
    this.complete = all.size <= this.maxEntries;
    this.hitsMap.clear();
    this.missMap.clear();
    this.version = version;
    this.lastFullLoad = Date.now();
  }

  private async applyChanges(): Promise<void> {
    const since = this.version ?? "0";
    const result = await sql<{
      version: string;
      code: string | null;
      active: boolean | null;
      display_name: string | null;
    }>`
      SELECT v.version::text AS version, c.code, c.active, m.display_name
      FROM code_cache_version v
      LEFT JOIN referral_codes c ON c.cache_version > ${since}::bigint
      LEFT JOIN members m ON m.member_id = c.owner_member_id
      WHERE v.id = 1`.execute(this.db);
    const version = result.rows[0]?.version;
    // Versions only grow; an answer older than what is applied already changes nothing.
    if (version === undefined || !newer(version, this.version)) return;
    // Anything loaded before this point may predate these changes.
    this.generation += 1;
    this.counters.invalidations += 1;
    this.inflight.clear();
    for (const row of result.rows) {
      if (!row.code) continue;
      if (this.complete) {
        if (row.active) this.all.set(row.code, { code: row.code, displayName: row.display_name });
        else this.all.delete(row.code);
      } else {
        this.hitsMap.delete(row.code);
        this.missMap.delete(row.code);
      }
    }
    if (this.complete && this.all.size > this.maxEntries) {
      // Grew past the bound: hand over to partial mode.
      this.complete = false;
      this.all = new Map();
    }
    this.version = version;
  }
}

/** Whether version `a` is later than `b` (decimal strings of bigints; undefined is earliest). */
function newer(a: string, b: string | undefined): boolean {
  return b === undefined || BigInt(a) > BigInt(b);
}

declare module "../services.js" {
  interface Services {
    /** The public code lookup cache, started by `startServer`. */
    codeCache?: CodeCache;
  }
}

const fallbacks = new WeakMap<object, CodeCache>();

/** The services' cache, or one made on first use (apps built without `startServer`). */
export function codeCacheOf(services: { db: Db; codeCache?: CodeCache; logger?: Logger }): CodeCache {
  if (services.codeCache) return services.codeCache;
  let cache = fallbacks.get(services);
  if (!cache) {
    cache = new CodeCache(services.db, { logger: services.logger });
    fallbacks.set(services, cache);
    void cache.start();
  }
  return cache;
}
