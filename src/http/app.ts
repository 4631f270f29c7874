import { randomUUID } from "node:crypto";
import express, { type Express } from "express";
import helmet from "helmet";
import { pinoHttp } from "pino-http";
import { errSerializer } from "../logger.js";
import { httpMetricsMiddleware } from "../metrics/http.js";
import { createServiceMetrics } from "../metrics/service.js";
import type { Services } from "../services.js";
import { refuseDeepBodies } from "./middleware/body-depth.js";
import { notFound, problemHandler } from "./middleware/problem.js";
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
import { webhookRoutes } from "./routes/webhooks.js";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
  app.use(
    pinoHttp({
      logger: services.logger,
      genReqId: (req, res) => {
        const incoming = req.headers["x-request-id"];
        const id = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader("x-request-id", id);
        return id;
      },
      customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? "error" : "info"),
      serializers: {
        req: (req) => ({ id: req.id, method: req.method, url: String(req.url).split("?")[0] }),
        res: (res) => ({ statusCode: res.statusCode }),
        // pino-http's child logger would otherwise fall back to pino's own, unredacted, err serializer.
        err: errSerializer,
      },
    }),
  );
  app.use(helmet({ contentSecurityPolicy: false }));

  // The webhook needs its raw bytes for the signature: mounted before the JSON parser.
  app.use(webhookRoutes(services));
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
