import type { IncomingMessage, ServerResponse } from "node:http";
import { type CodeCache, codeCacheOf, type PublicCode } from "../attribution/code-cache.js";
import { utcDay, visitorHash } from "../attribution/ip-hash.js";
import {
  parseCookies,
  REF_COOKIE,
  REF_COOKIE_VISIBLE,
  signCookieValue,
  verifyCookieValue,
} from "../lib/cookies.js";
import type { RedirectObserver } from "../metrics/http.js";
import type { Services } from "../services.js";
import { type RateDecision, type RateLimiter, rateLimiterOf } from "./middleware/rate-limit.js";
import { requestIdOf, SECURITY_HEADERS } from "./request-basics.js";

/** express's compiled `trust proxy` function: (address, hop index) → trusted. */
export type TrustFn = (address: string, hop: number) => boolean;

// A dependency of express (its `req.ip`), so the same algorithm with the same trust function.
const proxyaddr: (req: IncomingMessage, trust: TrustFn) => string = require("proxy-addr");

/** Signed in place of a real code on the unknown-code path, so both paths do the same work. */
const NO_CODE = "NO-CODE";
const DAY_MS = 86_400_000;

/** Counters for /metrics. */
export interface FastRedirectStats {
  redirects: number;
  redirectsKnown: number;
  rateLimited: number;
  errors: number;
}

declare module "../services.js" {
  interface Services {
    /** Counters of the plain node:http `/r/:code` handler (no per-request log line on that path). */
    redirectStats?: FastRedirectStats;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * `GET /r/:code` as a plain node:http handler in front of the express app: the same contract as the
 * express route (302 to the configured landing page only — never anything from the request but a
 * code that matched the code pattern —, the two first-touch cookies, unknown codes the same status,
 * headers and work, the shared rate limit, exact visit counting through the visit buffer), without
 * express, pino-http or helmet per request: helmet's headers are precomputed, the request id is
 * validated or generated as in `createApp`, and requests are counted in `services.redirectStats`
 * instead of logged. The client address and `X-Forwarded-Proto` are believed exactly as express
 * believes them, through express's own compiled `trust proxy` function and `proxy-addr`.
 *
 * Returns false (and touches nothing) for anything it does not own — other paths and methods,
 * `/r/a/b`, a path segment that does not percent-decode (express answers 400) — so that express
 * keeps serving those exactly as before.
 */
export function createFastRedirect(
  services: Services,
  options: { trust?: TrustFn } = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const stats: FastRedirectStats = { redirects: 0, redirectsKnown: 0, rateLimited: 0, errors: 0 };
  services.redirectStats = stats;
  const trust = services.config.TRUST_PROXY ? options.trust : undefined;
  let cache: CodeCache | undefined;
  let limiter: RateLimiter | undefined;
  // The duration histogram's children for 302/429/500, bound once: one observe per request.
  let observer: RedirectObserver | undefined;

  // Precomputed per configuration: the landing page and the parts of the cookies that never change.
  let built: ReturnType<typeof build> | undefined;
  function build() {
    const { config } = services;
    const landing = new URL(config.landingUrl);
    const maxAgeMs = config.REF_COOKIE_DAYS * DAY_MS;
    return {
      config,
      landing: landing.toString(),
      withRef: (code: string) => {
        const url = new URL(config.landingUrl);
        url.searchParams.set("ref", code);
        return url.toString();
      },
      maxAgeMs,
      cookieAttributes: `; Max-Age=${Math.floor(maxAgeMs / 1000)}; Path=/; Expires=`,
      httpsBase: config.publicBaseUrl.startsWith("https://"),
    };
  }
  const locations = new Map<string, string>();
  const clock = {
    second: -1,
    day: "",
    expires: "",
    signed: new Map<string, string>(),
    visitorsDay: "",
    visitors: new Map<string, string>(),
  };

  function isSecure(req: IncomingMessage, httpsBase: boolean): boolean {
    if (httpsBase) return true;
    const socket = req.socket as IncomingMessage["socket"] & { encrypted?: boolean };
    if (socket.encrypted) return true;
    if (!trust?.(socket.remoteAddress ?? "", 0)) return false;
    const header = req.headers["x-forwarded-proto"];
    const value = typeof header === "string" ? header : "";
    const index = value.indexOf(",");
    return (index === -1 ? value : value.slice(0, index)).trim() === "https";
  }

  function rateHeaders(headers: string[], decision: RateDecision) {
    headers.push(
      "ratelimit-limit",
      String(decision.limit),
      "ratelimit-remaining",
      String(decision.remaining),
      "ratelimit-reset",
      String(decision.resetSeconds),
    );
  }

  function problem(res: ServerResponse, requestId: string, status: number, body: object, extra: string[]) {
    const json = JSON.stringify(body);
    res.writeHead(status, [
      ...extra,
      ...SECURITY_HEADERS,
      "x-request-id",
      requestId,
      "content-type",
      "application/problem+json; charset=utf-8",
      "content-length",
      String(Buffer.byteLength(json)),
    ]);
    res.end(json);
  }

  function respond(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    ip: string,
    row: PublicCode | null,
    decision: RateDecision | undefined,
    start: number,
  ) {
    const b = built!;
    const { config } = b;
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== clock.second) {
      // Per second: the day, the cookies' Expires, and the signatures (they sign the second).
      clock.second = second;
      clock.day = utcDay(new Date(now));
      clock.expires = new Date(now + b.maxAgeMs).toUTCString();
      clock.signed.clear();
      if (clock.day !== clock.visitorsDay) {
        clock.visitorsDay = clock.day;
        clock.visitors.clear();
      }
    }
    const day = clock.day;
    const userAgent = req.headers["user-agent"] ?? "";
    // The same HMACs for known and unknown codes, each computed once per (address, agent, day) and
    // per (code, second): identical values, without two HMACs per request in a burst.
    const visitorKey = `${ip}\n${userAgent}`;
    let visitor = clock.visitors.get(visitorKey);
    if (visitor === undefined) {
      visitor = visitorHash(config.secrets.ipHash, day, ip, userAgent);
      if (clock.visitors.size >= 4096) clock.visitors.clear();
      clock.visitors.set(visitorKey, visitor);
    }
    const cookieHeader = req.headers.cookie;
    const existing = cookieHeader
      ? verifyCookieValue(config.secrets.cookie, parseCookies(cookieHeader)[REF_COOKIE], {
          maxAgeDays: config.REF_COOKIE_DAYS,
        })
      : undefined;
    const signedCode = row?.code ?? NO_CODE;
    let signed = clock.signed.get(signedCode);
    if (signed === undefined) {
      signed = signCookieValue(config.secrets.cookie, signedCode, new Date(now));
      if (clock.signed.size >= 4096) clock.signed.clear();
      clock.signed.set(signedCode, signed);
    }

    let location = b.landing;
    const headers: string[] = ["cache-control", "no-store"];
    if (decision) rateHeaders(headers, decision);
    if (row) {
      let withRef = locations.get(row.code);
      if (withRef === undefined) {
        withRef = b.withRef(row.code);
        if (locations.size >= 10_000) locations.clear();
        locations.set(row.code, withRef);
      }
      location = withRef;
      if (!existing) {
        const tail = `${b.cookieAttributes}${clock.expires}`;
        const secure = isSecure(req, b.httpsBase) ? "; Secure" : "";
        headers.push(
          "set-cookie",
          `${REF_COOKIE}=${encodeURIComponent(signed)}${tail}; HttpOnly${secure}; SameSite=Lax`,
          "set-cookie",
          `${REF_COOKIE_VISIBLE}=${encodeURIComponent(row.code)}${tail}${secure}; SameSite=Lax`,
        );
      }
      services.visits?.record(row.code, day, visitor);
      stats.redirectsKnown += 1;
    }
    stats.redirects += 1;

    // express's redirect body: text/plain unless the client prefers HTML.
    const html = req.headers.accept?.includes("text/html") === true;
    const body = html
      ? `<!DOCTYPE html><head><title>Found</title></head><body><p>Found. Redirecting to ${escapeHtml(location)}</p></body>`
      : `Found. Redirecting to ${location}`;
    headers.push(
      ...SECURITY_HEADERS,
      "vary",
      "Accept",
      "x-request-id",
      requestId,
      "location",
      location,
      "content-type",
      html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8",
      "content-length",
      String(Buffer.byteLength(body)),
    );
    res.writeHead(302, headers);
    res.end(body);
    observer?.found(start);
  }

  function fail(res: ServerResponse, requestId: string, error: unknown, start: number) {
    stats.errors += 1;
    observer?.failed(start);
    services.logger.error({ err: error, reqId: requestId, route: "/r/:code" }, "redirect failed");
    if (res.headersSent) {
      res.destroy();
      return;
    }
    problem(
      res,
      requestId,
      500,
      {
        type: "https://twinrail.dev/problems/internal",
        title: "internal",
        status: 500,
        detail: "internal error; quote the requestId when reporting it",
        code: "internal",
        requestId,
      },
      [],
    );
  }

  return (req, res) => {
    const url = req.url;
    if (req.method !== "GET" || url === undefined || !url.startsWith("/r/")) return false;
    const query = url.indexOf("?");
    let segment = query === -1 ? url.slice(3) : url.slice(3, query);
    // express (non-strict routing) also matches one trailing slash.
    if (segment.endsWith("/")) segment = segment.slice(0, -1);
    if (segment === "" || segment.includes("/")) return false;
    let raw: string;
    try {
      raw = segment.includes("%") ? decodeURIComponent(segment) : segment;
    } catch {
      return false;
    }

    const start = performance.now();
    built ??= build();
    observer ??= services.metrics?.redirect;
    cache ??= codeCacheOf(services);
    limiter ??= rateLimiterOf(services);
    const incoming = req.headers["x-request-id"];
    const requestId = requestIdOf(incoming);
    const ip = (trust ? proxyaddr(req, trust) : req.socket.remoteAddress) ?? "unknown";

    const proceed = (decision: RateDecision | undefined) => {
      if (decision && !decision.allowed) {
        stats.rateLimited += 1;
        observer?.limited(start);
        problem(
          res,
          requestId,
          429,
          {
            type: "https://twinrail.dev/problems/rate_limited",
            title: "rate limited",
            status: 429,
            detail: `too many requests from this address; retry in ${decision.resetSeconds} s`,
            code: "rate_limited",
            requestId,
            limit: decision.limit,
            windowSeconds: limiter!.windowSeconds,
          },
          (() => {
            const extra: string[] = [];
            rateHeaders(extra, decision);
            extra.push("retry-after", String(decision.resetSeconds));
            return extra;
          })(),
        );
        return;
      }
      const key = cache!.key(raw);
      const cached = cache!.peek(key);
      if (cached !== undefined) {
        respond(req, res, requestId, ip, cached, decision, start);
        return;
      }
      cache!.load(key).then(
        (row) => respond(req, res, requestId, ip, row, decision, start),
        (error) => fail(res, requestId, error, start),
      );
    };

    try {
      if (limiter.limit === 0) {
        proceed(undefined);
      } else {
        const decision = limiter.hit("public", ip);
        if (decision instanceof Promise) {
          decision.then(proceed).catch((error) => fail(res, requestId, error, start));
        } else {
          proceed(decision);
        }
      }
    } catch (error) {
      fail(res, requestId, error, start);
    }
    return true;
  };
}
