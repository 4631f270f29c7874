import type { Request, Response } from "express";
import { Router } from "express";
import { z } from "zod";
import { utcDay, visitorHash } from "../../attribution/ip-hash.js";
import { normalizeCode } from "../../domain/codes.js";
import {
  parseCookies,
  REF_COOKIE,
  REF_COOKIE_VISIBLE,
  signCookieValue,
  verifyCookieValue,
} from "../../lib/cookies.js";
import type { Services } from "../../services.js";
import { clientIp, rateLimit } from "../middleware/rate-limit.js";
import { parse } from "../validate.js";

export const trackBody = z.object({ code: z.string().max(256), path: z.string().max(2048).optional() });
const DAY_MS = 86_400_000;
/** Signed in place of a real code on the unknown-code path, so both paths do the same work. */
const NO_CODE = "NO-CODE";

/** Looks a code up as the public sees it: only an active code counts. Always one query, whatever the input. */
async function activeCode(services: Services, raw: unknown) {
  const normalized = normalizeCode(raw);
  const code = normalized.ok ? normalized.code : "";
  const row = await services.db
    .selectFrom("referral_codes as c")
    .innerJoin("members as m", "m.member_id", "c.owner_member_id")
    .select(["c.code", "m.display_name"])
    .where("c.code", "=", code)
    .where("c.active", "=", true)
    .executeTakeFirst();
  return row;
}

/**
 * The public surface: referral links, visit tracking and the badge. No auth, rate-limited per client
 * address (shared across instances). Unknown and valid codes get the same status and the same work
 * (one lookup, the same HMACs); only a valid code sets cookies and counts a visit, in memory.
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

  router.get("/r/:code", limited, async (req, res) => {
    const code = await visit(req, res, req.params.code);
    // The landing page is configuration, never the request: /r/ cannot become an open redirect, and
    // the only request-derived part is a code that matched ^[A-Z0-9][A-Z0-9_-]{2,31}$.
    const landing = new URL(services.config.landingUrl);
    if (code) landing.searchParams.set("ref", code);
    res.set("cache-control", "no-store").redirect(302, landing.toString());
  });

  router.post("/v1/track", limited, async (req, res) => {
    const body = parse(trackBody, req.body ?? {});
    await visit(req, res, body.code);
    res.set("cache-control", "no-store").status(204).end();
  });

  router.get("/v1/referral", limited, async (req, res) => {
    const query = parse(z.object({ code: z.string().max(256).optional() }), req.query, "query");
    const row = await activeCode(services, query.code ?? cookieCode(req) ?? "");
    res
      .set("cache-control", "no-store")
      .json(
        row
          ? { applied: true, code: row.code, referrer: { displayName: row.display_name } }
          : { applied: false, code: null, referrer: null },
      );
  });

  return router;
}
