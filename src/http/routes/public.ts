import type { Request, Response } from "express";
import { Router } from "express";
import { z } from "zod";
import { codeCacheOf } from "../../attribution/code-cache.js";
import { utcDay, visitorHash } from "../../attribution/ip-hash.js";
import {
  parseCookies,
  REF_COOKIE,
  REF_COOKIE_VISIBLE,
  signCookieValue,
  verifyCookieValue,
} from "../../lib/cookies.js";
import type { Services } from "../../services.js";
import { clientIp, rateLimit } from "../middleware/rate-limit.js";
import { named, route } from "../route.js";

export const trackBody = z.object({ code: z.string().max(256), path: z.string().max(2048).optional() });
const referralView = named(
  "Referral",
  z.object({
    applied: z.boolean(),
    code: z.string().nullable(),
    referrer: z.object({ displayName: z.string().nullable() }).nullable(),
  }),
);
const DAY_MS = 86_400_000;
/** Signed in place of a real code on the unknown-code path, so both paths do the same work. */
const NO_CODE = "NO-CODE";

/**
 * Looks a code up as the public sees it: only an active code counts. From the shared in-process
 * cache (`src/attribution/code-cache.ts`), which caches misses too: whatever the input, the same work.
 */
async function activeCode(services: Services, raw: unknown) {
  const row = await codeCacheOf(services).lookup(raw);
  return row ? { code: row.code, display_name: row.displayName } : undefined;
}

/**
 * The public surface: referral links, visit tracking and the badge. No auth, rate-limited per client
 * address (shared across instances). Unknown and valid codes get the same status and the same work
 * (one cached lookup, the same HMACs); only a valid code sets cookies and counts a visit, in memory.
 * `GET /r/:code` itself is answered by the plain node:http handler in `src/http/fast-redirect.ts`
 * in front of express; the route here serves what that one hands on (HEAD) and keeps the contract.
 */
export function publicRoutes(services: Services): Router {
  const router = Router();
  const limited = rateLimit(services, "public");

  /** The request's first-touch code, if it carries a genuine, unexpired `tw_ref`. */
  function cookieCode(req: Request): string | undefined {
    const { config } = services;
    return verifyCookieValue(config.secrets.cookie, parseCookies(req.get("cookie"))[REF_COOKIE], {
      maxAgeDays: config.REF_COOKIE_DAYS,
    });
  }

  /** Looks the code up, sets the first-touch cookies and counts the visit when it is valid. */
  async function visit(req: Request, res: Response, raw: unknown): Promise<string | undefined> {
    const { config } = services;
    const row = await activeCode(services, raw);
    const now = new Date();
    const day = utcDay(now);
    const visitor = visitorHash(config.secrets.ipHash, day, clientIp(req), req.get("user-agent") ?? "");
    const existing = cookieCode(req);
    const signed = signCookieValue(config.secrets.cookie, row?.code ?? NO_CODE, now);
    if (!row) return undefined;
    if (!existing) {
      // Secure whenever the request arrived over HTTPS; behind a proxy that is X-Forwarded-Proto,
      // which express believes only when TRUST_PROXY is set.
      const secure = req.secure || config.publicBaseUrl.startsWith("https://");
      const options = {
        maxAge: config.REF_COOKIE_DAYS * DAY_MS,
        sameSite: "lax" as const,
        secure,
        path: "/",
      };
      res.cookie(REF_COOKIE, signed, { ...options, httpOnly: true });
      res.cookie(REF_COOKIE_VISIBLE, row.code, { ...options, httpOnly: false });
    }
    services.visits?.record(row.code, day, visitor);
    return row.code;
  }

  const pub = { tag: "public", auth: "none", middleware: [limited], errors: ["rate_limited"] } as const;

  route(
    router,
    {
      ...pub,
      method: "get",
      path: "/r/:code",
      summary: "Referral link: 302 to LANDING_URL, first-touch cookies",
      responses: [
        {
          status: 302,
          description:
            "to LANDING_URL, with ?ref=CODE for an active code; an unknown code gets the same status",
          headers: {
            location: "the landing page",
            "set-cookie": "tw_ref (httpOnly, signed) and tw_ref_visible",
          },
        },
      ],
    },
    async (req, res) => {
      const code = await visit(req, res, req.params.code);
      // The landing page is configuration, never the request: /r/ cannot become an open redirect, and
      // the only request-derived part is a code that matched ^[A-Z0-9][A-Z0-9_-]{2,31}$.
      const landing = new URL(services.config.landingUrl);
      if (code) landing.searchParams.set("ref", code);
      res.set("cache-control", "no-store").redirect(302, landing.toString());
    },
  );

  route(
    router,
    {
      ...pub,
      method: "post",
      path: "/v1/track",
      summary: "Count a visit; sets the cookies if absent; always 204",
      body: trackBody,
      bodyMode: "optional",
      responses: [{ status: 204, description: "counted when the code is active; the same answer otherwise" }],
    },
    async (req, res, { body }) => {
      await visit(req, res, body.code);
      res.set("cache-control", "no-store").status(204).end();
    },
  );

  route(
    router,
    {
      ...pub,
      method: "get",
      path: "/v1/referral",
      summary: "Badge data from ?code= or the cookie",
      query: z.object({ code: z.string().max(256).optional() }),
      responses: [
        { status: 200, description: "the referrer behind the code, if it is active", schema: referralView },
      ],
    },
    async (req, res, { query }) => {
      const row = await activeCode(services, query.code ?? cookieCode(req) ?? "");
      res
        .set("cache-control", "no-store")
        .json(
          row
            ? { applied: true, code: row.code, referrer: { displayName: row.display_name } }
            : { applied: false, code: null, referrer: null },
        );
    },
  );

  return router;
}
