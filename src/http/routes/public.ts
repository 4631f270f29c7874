import { Router } from "express";
import { sql } from "kysely";
import { z } from "zod";
import { normalizeCode } from "../../domain/codes.js";
import {
  parseCookies,
  REF_COOKIE,
  REF_COOKIE_VISIBLE,
  signCookieValue,
  verifyCookieValue,
} from "../../lib/cookies.js";
import type { Services } from "../../services.js";
import { parse } from "../validate.js";

const DAY_MS = 86_400_000;

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

async function countVisit(services: Services, code: string) {
  await services.db.transaction().execute(async (trx) => {
    await trx
      .updateTable("referral_codes")
      .set({ visits_total: sql`visits_total + 1` })
      .where("code", "=", code)
      .execute();
    await trx
      .insertInto("visit_days")
      .values({ code, day: sql<string>`current_date` as never, visits: 1n })
      .onConflict((oc) => oc.columns(["code", "day"]).doUpdateSet({ visits: sql`visit_days.visits + 1` }))
      .execute();
  });
}

/** The public surface: referral links, visit tracking and the badge. No auth; no enumeration oracle. */
export function publicRoutes(services: Services): Router {
  const router = Router();
  const { config } = services;
  const secure = config.publicBaseUrl.startsWith("https://");

  function firstTouch(res: import("express").Response, cookies: Record<string, string>, code: string) {
    if (verifyCookieValue(config.secrets.cookie, cookies[REF_COOKIE])) return; // first touch wins
    const options = { maxAge: config.REF_COOKIE_DAYS * DAY_MS, sameSite: "lax" as const, secure, path: "/" };
    res.cookie(REF_COOKIE, signCookieValue(config.secrets.cookie, code), { ...options, httpOnly: true });
    res.cookie(REF_COOKIE_VISIBLE, code, { ...options, httpOnly: false });
  }

  router.get("/r/:code", async (req, res) => {
    const row = await activeCode(services, req.params.code);
    // The landing page is configuration, never the request: /r/ cannot become an open redirect.
    const landing = new URL(config.landingUrl);
    if (row) {
      firstTouch(res, parseCookies(req.get("cookie")), row.code);
      await countVisit(services, row.code);
      landing.searchParams.set("ref", row.code);
    }
    res.set("cache-control", "no-store").redirect(302, landing.toString());
  });

  router.post("/v1/track", async (req, res) => {
    const body = parse(
      z.object({ code: z.string().max(256), path: z.string().max(2048).optional() }),
      req.body ?? {},
    );
    const row = await activeCode(services, body.code);
    if (row) {
      firstTouch(res, parseCookies(req.get("cookie")), row.code);
      await countVisit(services, row.code);
    }
    res.status(204).end();
  });

  router.get("/v1/referral", async (req, res) => {
    const query = parse(z.object({ code: z.string().max(256).optional() }), req.query, "query");
    const cookieCode = verifyCookieValue(config.secrets.cookie, parseCookies(req.get("cookie"))[REF_COOKIE]);
    const row = await activeCode(services, query.code ?? cookieCode ?? "");
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
