import { readFileSync } from "node:fs";
import path from "node:path";
import { Router } from "express";
import { z } from "zod";
import { databaseHealth, describeDbError } from "../../db/connect.js";
import { AppError } from "../../errors.js";
import { pingDatabase, readMintQueue } from "../../ledger/queries/mint-queue.js";
import { constantTimeEqual } from "../../lib/crypto.js";
import { packageRoot } from "../../lib/package-root.js";
import { createServiceMetrics } from "../../metrics/service.js";
import type { Services } from "../../services.js";
import { docsPage, openApiDocument } from "../openapi.js";
import { route } from "../route.js";
import { mintRunResult } from "../schemas.js";

// From the package root, not a path relative to this file: the same from src/ (tsx) and dist/server/.
const VERSION: string = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")).version;

/** Health, readiness, metrics and the cron trigger. */
export function opsRoutes(services: Services): Router {
  const router = Router();
  const { db, chain, minter } = services;

  route(router, OPENAPI, (req, res) => {
    res.json(openApiDocument(req.app, services.config.publicBaseUrl, VERSION));
  });
  route(router, DOCS, (req, res) => {
    // Inline styles only, no script: a page-specific CSP that allows exactly that.
    res.set(
      "content-security-policy",
      "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    );
    res.type("html").send(docsPage(req.app));
  });

  route(router, HEALTHZ, (_req, res) => {
    res.json({ status: "ok" });
  });

  route(router, READYZ, async (_req, res) => {
    const [database, blockNumber] = await Promise.all([
      // Bounded: during an outage the probe answers within READY_DB_TIMEOUT_MS, it does not hang.
      withTimeout(pingDatabase(db), READY_DB_TIMEOUT_MS, "database probe timed out").then(
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
        // READ_DATABASE_URL: where dashboard reads go now (the primary while the replica is down or lags).
        ...(services.reads ? { replica: await services.reads.status() } : {}),
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

  route(router, METRICS, async (_req, res) => {
    // prom-client registries (src/metrics/): the process's default metrics and this instance's.
    const metrics = services.metrics ?? createServiceMetrics(services);
    services.metrics = metrics;
    res.type(metrics.contentType).send(await metrics.text());
  });

  const mintQueue = () => readMintQueue(db);

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
  route(router, { ...CRON_MINT, method: "get" }, cronMint);
  route(router, { ...CRON_MINT, method: "post" }, cronMint);

  // The embedded chain lives inside this process; this read-only JSON-RPC door lets scripts, wallets and
  // block explorers verify it. Real chains have their own RPC, so it exists only in embedded mode.
  if (chain.mode === "embedded") {
    route(router, CHAIN_RPC, async (req, res) => {
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

const ops = { tag: "operations", auth: "none" } as const;

const OPENAPI = {
  ...ops,
  method: "get",
  path: "/openapi.json",
  summary: "This document: OpenAPI 3.1, generated from the route registrations",
  responses: [{ status: 200, description: "the document", schema: z.record(z.string(), z.unknown()) }],
} as const;

const DOCS = {
  ...ops,
  method: "get",
  path: "/docs",
  summary: "Every operation on one script-free page",
  responses: [{ status: 200, description: "the page", contentType: "text/html" }],
} as const;

const HEALTHZ = {
  ...ops,
  method: "get",
  path: "/healthz",
  summary: "Process up",
  responses: [
    { status: 200, description: "the process answers", schema: z.object({ status: z.literal("ok") }) },
  ],
} as const;

const readiness = z.object({
  status: z.enum(["ready", "unavailable"]),
  database: z
    .object({ ok: z.boolean(), kind: z.string(), error: z.string().nullable() })
    .catchall(z.unknown()),
  chain: z.object({
    ok: z.boolean(),
    mode: z.string(),
    chainId: z.number(),
    blockNumber: z.string().nullable(),
  }),
  minter: z.object({ state: z.enum(["idle", "running", "blocked"]) }).catchall(z.unknown()),
});

const READYZ = {
  ...ops,
  method: "get",
  path: "/readyz",
  summary: "Database, chain and minter state",
  responses: [
    { status: 200, description: "database and chain reachable", schema: readiness },
    { status: 503, description: "database or chain unreachable", schema: readiness },
  ],
} as const;

const METRICS = {
  ...ops,
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics",
  responses: [{ status: 200, description: "text exposition format 0.0.4", contentType: "text/plain" }],
} as const;

const CRON_MINT = {
  tag: "cron",
  auth: "cron",
  path: "/v1/cron/mint",
  summary: "Scheduled mint trigger (GET and POST)",
  responses: [
    {
      status: 200,
      description: "what the run did",
      schema: mintRunResult.pick({ batchId: true, status: true, minted: true, skipped: true, failed: true }),
    },
  ],
  errors: ["chain_unavailable"],
} as const;

const CHAIN_RPC = {
  ...ops,
  tag: "chain",
  method: "post",
  path: "/v1/chain/rpc",
  summary: "Read-only JSON-RPC of the embedded chain (embedded mode only)",
  body: z.object({
    jsonrpc: z.string().optional(),
    id: z.unknown(),
    method: z.string(),
    params: z.unknown(),
  }),
  bodyMode: "raw",
  responses: [
    { status: 200, description: "JSON-RPC result or error", schema: z.record(z.string(), z.unknown()) },
    { status: 403, description: "a method that is not read-only", schema: z.record(z.string(), z.unknown()) },
  ],
} as const;

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
