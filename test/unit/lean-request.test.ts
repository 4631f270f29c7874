import { once } from "node:events";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import express from "express";
import helmet from "helmet";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { leanRequest } from "../../src/http/middleware/lean-request.js";
import { requestLogger } from "../../src/http/middleware/request-logger.js";

/**
 * The payments webhook is served with its request id, helmet's headers and its request log line done
 * by hand (src/http/middleware/lean-request.ts) instead of by pino-http and helmet: the same requests
 * through both must answer the same headers and log the same lines.
 */
function app(kind: "pino-http" | "lean") {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = pino({ level: "info", base: { service: "twinrail" } }, sink);
  const server = express();
  server.disable("x-powered-by"); // as createApp does
  if (kind === "lean") server.use(leanRequest(logger, "POST", "/v1/webhooks/payments"));
  else server.use(requestLogger(logger), helmet({ contentSecurityPolicy: false }));
  server.post("/v1/webhooks/payments", (req, res, next) => {
    if (req.query.slow) {
      setTimeout(() => res.headersSent || res.destroyed || res.json({ late: true }), 200);
      return;
    }
    if (req.query.fail) {
      req.log.warn({ step: "handler" }, "about to fail");
      next(new Error("boom"));
      return;
    }
    res.json({ received: true, requestId: req.id });
  });
  server.use(((error, req, res, _next) => {
    req.log.error({ err: error }, "unhandled error");
    res.status(500).json({ requestId: req.id });
  }) as express.ErrorRequestHandler);
  return { server, lines };
}

async function call(server: express.Express, path: string, headers: Record<string, string> = {}) {
  const listening = server.listen(0, "127.0.0.1");
  await once(listening, "listening");
  const { port } = listening.address() as AddressInfo;
  try {
    return await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, method: "POST", path, headers }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (chunk) => (body += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("error", reject);
        req.end("{}");
      },
    );
  } finally {
    listening.close();
  }
}

const VARYING = ["date", "etag", "connection", "keep-alive", "content-length", "x-request-id"];
const stable = (headers: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !VARYING.includes(name)));
const line = ({ time, pid, hostname, responseTime, err, ...rest }: Record<string, unknown>) => ({
  ...rest,
  responseTime: typeof responseTime,
  err: err ? (err as { message: string }).message : undefined,
});

describe("the payments webhook's lean request handling", () => {
  it("answers the headers helmet and pino-http answer, and logs the same lines", async () => {
    for (const [path, headers] of [
      ["/v1/webhooks/payments", { "x-request-id": "req-wh-1" }],
      ["/v1/webhooks/payments?fail=1", { "x-request-id": "req-wh-2" }],
      ["/v1/webhooks/payments", { "x-request-id": "not a token!" }],
    ] as const) {
      const reference = app("pino-http");
      const lean = app("lean");
      const a = await call(reference.server, path, headers);
      const b = await call(lean.server, path, headers);
      expect(b.status).toBe(a.status);
      expect(stable(b.headers)).toEqual(stable(a.headers));
      const id = headers["x-request-id"];
      if (id.includes(" ")) {
        expect(b.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
      } else {
        expect(b.headers["x-request-id"]).toBe(id);
        expect(JSON.parse(b.body).requestId).toBe(id);
        expect(lean.lines.map(line)).toEqual(reference.lines.map(line));
      }
      expect(lean.lines.at(-1)).toMatchObject({
        msg: a.status >= 500 ? "request errored" : "request completed",
        res: { statusCode: a.status },
      });
    }
  });

  it("logs a request whose client gave up as pino-http does, once", async () => {
    const abandon = async (server: express.Express) => {
      const listening = server.listen(0, "127.0.0.1");
      await once(listening, "listening");
      const { port } = listening.address() as AddressInfo;
      const req = request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/webhooks/payments?slow=1",
        headers: { "x-request-id": "req-gone" },
      });
      req.on("error", () => undefined);
      req.end("{}");
      await new Promise((resolve) => setTimeout(resolve, 50));
      req.destroy();
      await new Promise((resolve) => setTimeout(resolve, 300));
      listening.close();
    };
    const reference = app("pino-http");
    const lean = app("lean");
    await abandon(reference.server);
    await abandon(lean.server);
    expect(reference.lines).toHaveLength(1);
    expect(lean.lines.map(line)).toEqual(reference.lines.map(line));
  });

  it("leaves every other request to pino-http and helmet", async () => {
    const lean = app("lean");
    lean.server.post("/v1/other", (req, res) => res.json({ id: req.id ?? null }));
    const res = await call(lean.server, "/v1/other");
    expect(res.headers["x-request-id"]).toBeUndefined();
    expect(res.headers["strict-transport-security"]).toBeUndefined();
    expect(lean.lines).toEqual([]);
  });
});
