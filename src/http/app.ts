import express, { type Express } from "express";
import helmet from "helmet";
import { httpMetricsMiddleware } from "../metrics/http.js";
import { createServiceMetrics } from "../metrics/service.js";
import type { Services } from "../services.js";
import { refuseDeepBodies } from "./middleware/body-depth.js";
import { leanRequest } from "./middleware/lean-request.js";
import { notFound, problemHandler } from "./middleware/problem.js";
import { requestLogger } from "./middleware/request-logger.js";
import { adminRoutes } from "./routes/admin.js";
import { demoShopRoutes } from "./routes/demo-shop.js";
import { integrationRoutes } from "./routes/integration.js";
import { ledgerAdminRoutes } from "./routes/ledger-admin.js";
import { memberRoutes } from "./routes/member.js";
import { opsRoutes } from "./routes/ops.js";
import { publicRoutes } from "./routes/public.js";
import { statsRoutes } from "./routes/stats.js";
import { vendorRoutes } from "./routes/vendor.js";
import { webRoutes } from "./routes/web.js";
import { webhookEndpointRoutes } from "./routes/webhook-endpoints.js";
import { PAYMENTS_WEBHOOK, webhookRoutes } from "./routes/webhooks.js";

/** Builds the express app: one router per surface, problem+json for every error. */
export function createApp(services: Services): Express {
  const app = express();
  app.disable("x-powered-by");
  // Parsed at boot (src/config.ts): true/false, a hop count or a list of addresses, subnets and names.
  if (services.config.TRUST_PROXY !== undefined) app.set("trust proxy", services.config.TRUST_PROXY);
  // Money leaves as decimal strings, never as JSON numbers.
  app.set("json replacer", (_key: string, value: unknown) =>
    typeof value === "bigint" ? value.toString() : value,
  );

  // Duration per route pattern and status (twinrail_http_request_duration_seconds).
  services.metrics ??= createServiceMetrics(services);
  app.use(httpMetricsMiddleware(services.metrics.http));
  // The payments webhook (most of the traffic) gets the request id, helmet's headers and the request
  // log line by hand, and is routed before pino-http and helmet (middleware/lean-request.ts). It needs
  // its raw bytes for the signature: mounted before the JSON parser too.
  app.use(leanRequest(services.logger, "POST", PAYMENTS_WEBHOOK.path));
  app.use(webhookRoutes(services));
  app.use(requestLogger(services.logger));
  app.use(helmet({ contentSecurityPolicy: false }));

  app.use(express.json({ limit: "256kb" }));
  app.use(refuseDeepBodies);
  app.use(webRoutes(services));
  if (services.config.demo) app.use(demoShopRoutes(services));
  app.use(opsRoutes(services));
  app.use(publicRoutes(services));
  app.use(integrationRoutes(services));
  app.use(ledgerAdminRoutes(services));
  app.use(webhookEndpointRoutes(services));
  app.use(adminRoutes(services));
  app.use(statsRoutes(services));
  app.use(memberRoutes(services));
  app.use(vendorRoutes(services));

  app.use(notFound);
  app.use(problemHandler);
  return app;
}
