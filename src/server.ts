import { createServer, type Server } from "node:http";
import path from "node:path";
import cron, { type ScheduledTask } from "node-cron";
import { CodeCache } from "./attribution/code-cache.js";
import { setIpv6SubnetPrefix } from "./attribution/ip-hash.js";
import { chainApprovals, connectChain } from "./chain/index.js";
import type { Config } from "./config.js";
import { asDb, connect } from "./db/connect.js";
import { migrate } from "./db/migrate.js";
import { loadTemplate, writeTemplate } from "./db/pglite-template.js";
import { ReadReplica } from "./db/read-replica.js";
import { serverSettings } from "./db/server-settings.js";
import { setTransactionLogger, statementCounter } from "./db/transaction.js";
import { createApp } from "./http/app.js";
import { createFastRedirect, type TrustFn } from "./http/fast-redirect.js";
import { RateLimiter } from "./http/middleware/rate-limit.js";
import { autoApproveRewards } from "./jobs/auto-approve.js";
import { createMinter, minterConfig } from "./jobs/minter.js";
import { retentionOptions, runRetention } from "./jobs/retention.js";
import { markSettlementsDue } from "./jobs/settlements.js";
import { pruneVisits } from "./ledger/prune-visits.js";
import { ensureAuditPartitions } from "./ledger/retention.js";
import { foldRollups } from "./ledger/rollups/fold.js";
import { VisitBuffer } from "./ledger/visit-buffer.js";
import { createLogger } from "./logger.js";
import { createServiceMetrics } from "./metrics/service.js";
import type { Services } from "./services.js";
import { createWebhookDispatcher } from "./webhooks/dispatcher.js";

export interface Running {
  services: Services;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Boots Twinrail: database (migrated), chain, minter, jobs and HTTP. Returns once it is ready. */
export async function startServer(
  config: Readonly<Config>,
  options: { logger?: ReturnType<typeof createLogger> } = {},
): Promise<Running> {
  const started = performance.now();
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  setIpv6SubnetPrefix(config.IPV6_SUBNET_PREFIX);
  for (const name of config.generatedSecrets) {
    // Expected in the demo (the demo file carries them); a warning anywhere else.
    logger[config.demo ? "info" : "warn"](
      { secret: name },
      `${name} is not set: generated an ephemeral one for this process`,
    );
  }

  // The demo's in-memory PGlite starts from a migrated snapshot beside the demo file when there is one.
  const templateDir =
    config.demo && !config.DATABASE_URL && !config.DATA_DIR && !config.DATABASE_SCHEMA
      ? path.dirname(config.DEMO_FILE)
      : undefined;
  // Database and chain start in parallel (each takes a couple of seconds in embedded mode).
  // An embedded chain forgets everything on exit, so its database is in memory too unless DATA_DIR asks otherwise.
  const [database, chainResult] = await Promise.allSettled([
    (async () => {
      const connection = await connect({
        databaseUrl: config.DATABASE_URL,
        directUrl: config.DATABASE_DIRECT_URL,
        poolMode: config.DATABASE_POOL_MODE,
        dataDir: config.DATA_DIR,
        pgliteTemplate: templateDir ? loadTemplate(templateDir) : undefined,
        schema: config.DATABASE_SCHEMA,
        logger: logger.child({ component: "database" }),
      });
      const migrations = await migrate(connection.sessionDb);
      logger.info({ applied: migrations.applied, database: connection.kind }, "database ready");
      return connection;
    })(),
    connectChain({
      rpcUrl: config.RPC_URL,
      chainId: config.CHAIN_ID,
      operatorPrivateKey: config.OPERATOR_PRIVATE_KEY as `0x${string}` | undefined,
      deploymentsFile: config.DEPLOYMENTS_FILE,
      confirmations: config.CHAIN_CONFIRMATIONS,
      approvals: chainApprovals(config),
    }),
  ]);
  if (database.status === "rejected" || chainResult.status === "rejected") {
    if (database.status === "fulfilled") await database.value.close();
    if (chainResult.status === "fulfilled") await chainResult.value.close();
    throw database.status === "rejected" ? database.reason : (chainResult as PromiseRejectedResult).reason;
  }
  const connection = database.value;
  const chain = chainResult.value;
  logger.info({ mode: chain.mode, chainId: chain.chainId, ...chain.addresses }, "chain ready");

  const minter = createMinter({
    // A real session (DATABASE_DIRECT_URL): the one-sender lock is a session advisory lock.
    db: connection.sessionDb,
    dbKind: connection.kind,
    chain,
    config: minterConfig(config, chain.confirmations),
    logger: logger.child({ job: "minter" }),
  });
  // Every statement the HTTP surface sends is counted (twinrail_db_statements_total); retries are logged.
  setTransactionLogger(logger.child({ component: "transactions" }));
  const services: Services = {
    config,
    db: asDb(connection.db.withPlugin(statementCounter)),
    dbKind: connection.kind,
    chain,
    minter,
    logger,
  };
  // prom-client registry of this instance (src/metrics/): jobs register their metrics on it.
  services.metrics = createServiceMetrics(services);
  // Dashboard and export reads from a streaming replica, with the primary as fallback (src/http/read-source.ts).
  if (config.READ_DATABASE_URL && connection.kind === "postgres") {
    services.reads = new ReadReplica(services.db, {
      url: config.READ_DATABASE_URL,
      schema: config.DATABASE_SCHEMA,
      maxLagSeconds: config.READ_MAX_LAG_SECONDS,
      logger: logger.child({ component: "read-replica" }),
    });
  } else if (config.READ_DATABASE_URL) {
    logger.warn({}, "READ_DATABASE_URL is ignored without DATABASE_URL (PGlite has no replica)");
  }
  if (connection.kind === "postgres" && !(await serverSettings(connection.db)).autovacuum) {
    logger.warn(
      {},
      "PostgreSQL runs with autovacuum off: tables are never analyzed, and plans made while a table was small stay as it grows (docs/runbook.md, PostgreSQL settings)",
    );
  }
  // Visits are counted in memory and flushed in batches; the flusher runs whatever JOBS says, since
  // without it no visit would ever be written.
  const visits = new VisitBuffer(connection.db, {
    intervalMs: config.VISIT_FLUSH_MS,
    maxPending: config.VISIT_FLUSH_MAX,
    logger: logger.child({ job: "visits" }),
  });
  services.visits = visits;
  visits.start();
  // Public code lookups from memory (invalidated through code_cache_version), and the shared rate
  // limit counted locally and flushed every 250 ms.
  const codeCache = new CodeCache(connection.db, { logger: logger.child({ job: "code-cache" }) });
  await codeCache.start();
  services.codeCache = codeCache;
  const rateLimiter = new RateLimiter(connection.db, {
    limit: config.RATE_LIMIT_PUBLIC,
    windowSeconds: config.RATE_LIMIT_WINDOW_SECONDS,
    secret: config.secrets.ipHash,
    logger: logger.child({ job: "rate-limit" }),
  });
  services.rateLimiter = rateLimiter;
  rateLimiter.start();
  // Outbound webhooks: the outbox's delivery job (docs/webhooks.md), with the other jobs.
  const webhooks = createWebhookDispatcher(services, connection.db);
  services.webhooks = webhooks;
  if (config.JOBS) webhooks.start();

  const tasks: ScheduledTask[] = [];
  if (config.JOBS) {
    await minter.recover().catch((error) => logger.error({ err: error }, "minter recovery at boot failed"));
    // The coming months' audit_log partitions, before any request could need one (pruning waits for the cron).
    await ensureAuditPartitions(connection.db, config.AUDIT_PARTITIONS_AHEAD).catch((error) =>
      logger.error({ err: error }, "audit_log partition maintenance at boot failed"),
    );
    tasks.push(
      cron.schedule(
        config.MINT_CRON,
        async () => {
          // One pipelined pass: batches until the queue is empty, MINT_PIPELINE_DEPTH in flight at once.
          await minter.runPipeline().catch((error) => logger.error({ err: error }, "scheduled mint failed"));
        },
        { name: "minter", noOverlap: true },
      ),
      cron.schedule(
        config.SETTLEMENT_CRON,
        async () => {
          await markSettlementsDue(connection.db).catch((error) =>
            logger.error({ err: error }, "settlement job failed"),
          );
        },
        { name: "settlements", noOverlap: true },
      ),
      cron.schedule(
        config.AUTO_APPROVE_CRON,
        async () => {
          if (config.REWARD_HOLD_DAYS === 0) return;
          await autoApproveRewards(connection.db, { holdDays: config.REWARD_HOLD_DAYS })
            .then((result) => {
              if (result.approved.length > 0)
                logger.info(
                  { approved: result.approved.length, flagged: result.flagged.length },
                  "auto-approved rewards",
                );
            })
            .catch((error) => logger.error({ err: error }, "auto-approve job failed"));
        },
        { name: "auto-approve", noOverlap: true },
      ),
      cron.schedule(
        config.VISIT_RETENTION_CRON,
        async () => {
          await pruneVisits(connection.db).catch((error) =>
            logger.error({ err: error }, "visit retention job failed"),
          );
        },
        { name: "visit-retention", noOverlap: true },
      ),
      cron.schedule(
        config.ROLLUP_FOLD_CRON,
        async () => {
          await foldRollups(connection.db).catch((error) =>
            logger.error({ err: error }, "rollup fold job failed"),
          );
        },
        { name: "rollup-fold", noOverlap: true },
      ),
      cron.schedule(
        config.RETENTION_CRON,
        async () => {
          await runRetention(connection.db, retentionOptions(config))
            .then((result) => logger.info(result, "retention job done"))
            .catch((error) => logger.error({ err: error }, "retention job failed"));
        },
        { name: "retention", noOverlap: true },
      ),
    );
  }

  // Listen first so that an ephemeral PORT=0 is known before the app builds its share links.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.PORT;
  if (!config.PUBLIC_BASE_URL && port !== config.PORT) {
    const publicBaseUrl = `http://localhost:${port}`;
    services.config = Object.freeze({
      ...config,
      publicBaseUrl,
      landingUrl: config.LANDING_URL ?? `${publicBaseUrl}/shop/`,
    });
  }
  // GET /r/:code is answered by a plain node:http handler (no express, no per-request log line);
  // everything else, and whatever that handler does not own, goes to the express app.
  const app = createApp(services);
  const fastRedirect = createFastRedirect(services, { trust: app.get("trust proxy fn") as TrustFn });
  server.on("request", (req, res) => {
    if (!fastRedirect(req, res)) app(req, res);
  });
  const url = services.config.publicBaseUrl;
  logger.info({ url, readyMs: Math.round(performance.now() - started) }, "twinrail ready");
  // The next embedded start loads the migrated snapshot; made once per build, off the boot path.
  if (templateDir) {
    setTimeout(() => {
      writeTemplate(templateDir)
        .then((file) => file && logger.info({ file }, "embedded database snapshot written for faster starts"))
        .catch((error) => logger.warn({ err: error }, "could not write the embedded database snapshot"));
    }, 1000).unref();
  }

  let closed = false;
  return {
    services,
    url,
    server,
    async close() {
      if (closed) return;
      closed = true;
      // Graceful (docs/runbook.md "Shutdown"): no new jobs and no new connections; in-flight requests
      // finish (keep-alive sockets are closed as soon as they go idle); a running mint batch reaches its
      // safe point; then the visits are flushed and the pools closed.
      for (const task of tasks) await task.stop();
      const drained = minter.drain();
      const idle = setInterval(() => server.closeIdleConnections?.(), 50);
      await new Promise<void>((resolve) => server.close(() => resolve())).finally(() => clearInterval(idle));
      server.closeAllConnections?.();
      await drained;
      // No request can record a visit any more: write what is buffered before the database goes.
      await visits
        .close()
        .catch((error) => logger.error({ err: error, lost: visits.size }, "final visit flush failed"));
      codeCache.close();
      await rateLimiter.close();
      await webhooks.close();
      await chain.close();
      await services.reads?.close();
      await connection.close();
    },
  };
}
