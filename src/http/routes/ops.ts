import { Router } from "express";
import { sql } from "kysely";
import { databaseHealth, describeDbError } from "../../db/connect.js";
import { transactionMetrics } from "../../db/transaction.js";
import { AppError } from "../../errors.js";
import { constantTimeEqual } from "../../lib/crypto.js";
import type { Services } from "../../services.js";
import { docsPage, openApiDocument } from "../openapi.js";
import { publicPathMetrics } from "../public-metrics.js";

const VERSION: string = require("../../../package.json").version;

/** Health, readiness, metrics and the cron trigger. */
export function opsRoutes(services: Services): Router {
  const router = Router();
  const { db, chain, minter } = services;

  router.get("/openapi.json", (_req, res) => {
    res.json(openApiDocument(services.config.publicBaseUrl, VERSION));
  });
  router.get("/docs", (_req, res) => {
    // Inline styles only, no script: a page-specific CSP that allows exactly that.
    res.set(
      "content-security-policy",
      "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    );
    res.type("html").send(docsPage());
  });

  router.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  router.get("/readyz", async (_req, res) => {
    const [database, blockNumber] = await Promise.all([
      // Bounded: during an outage the probe answers within READY_DB_TIMEOUT_MS, it does not hang.
      withTimeout(sql`select 1`.execute(db), READY_DB_TIMEOUT_MS, "database probe timed out").then(
        () => ({ ok: true as const, error: null }),
        (error: unknown) => ({ ok: false as const, error: describeDbError(error) }),
      ),
      chain.publicClient.getBlockNumber().then(
        (block) => block,
        () => null,
      ),
    ]);
    const ready = database.ok && blockNumber !== null;
    const pool = databaseHealth(db);
    res.status(ready ? 200 : 503).json({
      status: ready ? "ready" : "unavailable",
      database: {
        ok: database.ok,
        kind: services.dbKind,
        error: database.error,
        ...(pool
          ? {
              pool: {
                total: pool.total,
                idle: pool.idle,
                waiting: pool.waiting,
                lostConnections: pool.errors,
                lastError: pool.lastError,
                lastErrorAt: pool.lastErrorAt?.toISOString() ?? null,
              },
            }
          : {}),
      },
      chain: {
        ok: blockNumber !== null,
        mode: chain.mode,
        chainId: chain.chainId,
        blockNumber: blockNumber?.toString() ?? null,
      },
      // The minter never takes the API out of rotation; a global revert (paused, cap) shows as `blocked`.
      minter: {
        state: minter.stats.blockedReason ? "blocked" : minter.stats.running ? "running" : "idle",
        running: minter.stats.running,
        blockedReason: minter.stats.blockedReason,
        blockedUntil: minter.stats.blockedUntil?.toISOString() ?? null,
        lastRunAt: minter.stats.lastRunAt?.toISOString() ?? null,
        lastSuccessAt: minter.stats.lastSuccessAt?.toISOString() ?? null,
        lastError: minter.stats.lastError,
        // Rewards the period mint cap holds back until the next period (partial batches still mint).
        waitingForPeriod: minter.stats.waitingForPeriod,
        waitingForPeriodWei: minter.stats.waitingForPeriodWei.toString(),
        nextPeriodAt: minter.stats.nextPeriodAt?.toISOString() ?? null,
        queue: database.ok
          ? await withTimeout(mintQueue(), READY_DB_TIMEOUT_MS, "queue query timed out").catch(() => null)
          : null,
      },
    });
  });

  router.get("/metrics", async (_req, res) => {
    const queue = await db
      .selectFrom("referral_rewards")
      .select(["status", (eb) => eb.fn.countAll<bigint>().as("n")])
      .groupBy("status")
      .execute();
    const mint = await mintQueue();
    const stats = minter.stats;
    const lines = [
      "# HELP twinrail_mint_queue_depth Approved rewards waiting to be minted.",
      "# TYPE twinrail_mint_queue_depth gauge",
      `twinrail_mint_queue_depth ${mint.approved}`,
      "# HELP twinrail_mint_in_flight_batches Mint batches claimed or signed and not resolved yet.",
      "# TYPE twinrail_mint_in_flight_batches gauge",
      `twinrail_mint_in_flight_batches ${mint.openBatches}`,
      "# HELP twinrail_mint_oldest_approved_age_seconds Age of the oldest approved reward (0 when none).",
      "# TYPE twinrail_mint_oldest_approved_age_seconds gauge",
      `twinrail_mint_oldest_approved_age_seconds ${mint.oldestApprovedAgeSeconds}`,
      "# HELP twinrail_mint_blocked 1 while the minter backs off after a global revert (paused, mint cap).",
      "# TYPE twinrail_mint_blocked gauge",
      `twinrail_mint_blocked ${stats.blockedReason ? 1 : 0}`,
      "# HELP twinrail_mint_waiting_for_period Rewards the last run held back for the next period (mint cap).",
      "# TYPE twinrail_mint_waiting_for_period gauge",
      `twinrail_mint_waiting_for_period ${stats.waitingForPeriod}`,
      "# HELP twinrail_mint_deferred_for_gas_total Claimed rewards moved to a later batch: the transaction would not fit them.",
      "# TYPE twinrail_mint_deferred_for_gas_total counter",
      `twinrail_mint_deferred_for_gas_total ${stats.deferredForGas}`,
      "# HELP twinrail_mint_failures_by_kind_total Minter failures by kind.",
      "# TYPE twinrail_mint_failures_by_kind_total counter",
      ...Object.entries(stats.failuresByKind).map(
        ([kind, n]) => `twinrail_mint_failures_by_kind_total{kind="${kind}"} ${n}`,
      ),
      "# HELP twinrail_mint_fee_bumps_total Stuck transactions replaced with a higher fee.",
      "# TYPE twinrail_mint_fee_bumps_total counter",
      `twinrail_mint_fee_bumps_total ${stats.feeBumps}`,
      "# HELP twinrail_rewards Rewards by status.",
      "# TYPE twinrail_rewards gauge",
      ...queue.map((row) => `twinrail_rewards{status="${row.status}"} ${row.n}`),
      "# HELP twinrail_mint_batches_total Mint batches started by this process.",
      "# TYPE twinrail_mint_batches_total counter",
      `twinrail_mint_batches_total ${minter.stats.batches}`,
      "# TYPE twinrail_minted_rewards_total counter",
      `twinrail_minted_rewards_total ${minter.stats.minted}`,
      "# TYPE twinrail_mint_failures_total counter",
      `twinrail_mint_failures_total ${minter.stats.failures}`,
      "# TYPE twinrail_mint_gas_used_total counter",
      `twinrail_mint_gas_used_total ${minter.stats.gasUsed}`,
      "# TYPE twinrail_mint_last_success_timestamp_seconds gauge",
      `twinrail_mint_last_success_timestamp_seconds ${minter.stats.lastSuccessAt ? Math.floor(minter.stats.lastSuccessAt.getTime() / 1000) : 0}`,
      ...publicPathMetrics(services),
      ...transactionMetrics(),
    ];
    res.type("text/plain; version=0.0.4").send(`${lines.join("\n")}\n`);
  });

  async function mintQueue() {
    const row = await sql<{ approved: string; minting: string; open_batches: string; oldest: string | null }>`
      SELECT
        (SELECT count(*) FROM referral_rewards WHERE status = 'approved')::text AS approved,
        (SELECT count(*) FROM referral_rewards WHERE status = 'minting')::text AS minting,
        (SELECT count(*) FROM mint_batches WHERE status IN ('claimed', 'signed'))::text AS open_batches,
        (SELECT extract(epoch FROM now() - min(updated_at))::bigint::text
           FROM referral_rewards WHERE status = 'approved') AS oldest`
      .execute(db)
      .then((result) => result.rows[0]);
    return {
      approved: Number(row?.approved ?? 0),
      minting: Number(row?.minting ?? 0),
      openBatches: Number(row?.open_batches ?? 0),
      oldestApprovedAgeSeconds: Number(row?.oldest ?? 0),
    };
  }

  const cronMint = async (req: import("express").Request, res: import("express").Response) => {
    const header = req.get("authorization") ?? "";
    const presented = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? "";
    if (!constantTimeEqual(presented, services.config.secrets.cron)) {
      throw new AppError("unauthorized", "cron endpoints need Authorization: Bearer $CRON_SECRET");
    }
    const result = await minter.runOnce();
    res.json({
      batchId: result.batchId,
      status: result.status,
      minted: result.minted,
      skipped: result.skipped,
      failed: result.failed,
    });
  };
  router.get("/v1/cron/mint", cronMint);
  router.post("/v1/cron/mint", cronMint);

  // The embedded chain lives inside this process; this read-only JSON-RPC door lets scripts, wallets and
  // block explorers verify it. Real chains have their own RPC, so it exists only in embedded mode.
  if (chain.mode === "embedded") {
    router.post("/v1/chain/rpc", async (req, res) => {
      const body = req.body as { id?: unknown; method?: unknown; params?: unknown } | undefined;
      const method = typeof body?.method === "string" ? body.method : "";
      // JSON-RPC ids are strings, numbers or null; anything else is answered with null, never echoed.
      const id = typeof body?.id === "string" || typeof body?.id === "number" ? body.id : null;
      if (!READ_ONLY_RPC.has(method)) {
        res.status(403).json({
          jsonrpc: "2.0",
          id,
          error: { code: -32601, message: `${method || "method"} is not allowed here` },
        });
        return;
      }
      try {
        const result = await chain.publicClient.request({ method, params: body?.params ?? [] } as never);
        res.json({ jsonrpc: "2.0", id, result });
      } catch (error) {
        res.json({
          jsonrpc: "2.0",
          id,
          error: { code: -32000, message: error instanceof Error ? error.message : String(error) },
        });
      }
    });
  }

  return router;
}

/** How long `/readyz` waits for the database before reporting it unavailable. */
const READY_DB_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  // The abandoned query still settles (the pool bounds it); its result is ignored.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const READ_ONLY_RPC = new Set([
  "eth_chainId",
  "net_version",
  "eth_blockNumber",
  "eth_call",
  "eth_getBalance",
  "eth_getCode",
  "eth_getLogs",
  "eth_getBlockByNumber",
  "eth_getBlockByHash",
  "eth_getTransactionByHash",
  "eth_getTransactionReceipt",
  "eth_getTransactionCount",
  "eth_estimateGas",
  "eth_gasPrice",
]);
