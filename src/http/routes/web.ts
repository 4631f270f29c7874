import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import express, { type RequestHandler, Router } from "express";
import helmet from "helmet";
import { packageRoot } from "../../lib/package-root.js";
import type { Services } from "../../services.js";
import { route } from "../route.js";

/** Where `npm run build:web` writes the pages and the snippet (git-ignored). */
export const WEB_DIST = path.join(packageRoot(), "dist/web");

const SURFACES = ["admin", "vendor", "referrer", "shop", "tx"] as const;

const pages = { tag: "pages", auth: "none" } as const;
const PAGE_RESPONSES = [
  { status: 200, description: "the page", contentType: "text/html" },
  { status: 503, description: "the pages are not built", contentType: "text/plain" },
] as const;

/**
 * Strict CSP for the pages: scripts and styles only from this origin, no inline scripts. `data:` images
 * carry the referrer's QR code; uPlot and Preact style elements through the CSSOM, which CSP allows.
 */
const pageCsp = helmet.contentSecurityPolicy({
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
});

/**
 * The web surfaces (admin console, vendor settlements, referrer dashboard, storefront demo, tx view)
 * and the embeddable `/snippet.js`. Assets are content-hashed by Vite, so they are cached for a year;
 * the HTML is never cached so a deploy is picked up at once.
 */
export function webRoutes(services: Services): Router {
  const router = Router();
  const built = existsSync(path.join(WEB_DIST, "index.html"));
  if (!built) {
    services.logger.warn({ dir: WEB_DIST }, "web pages are not built: run `npm run build:web`");
  }

  const missing: RequestHandler = (_req, res) => {
    res
      .status(503)
      .type("text/plain")
      .send("The web pages are not built. Run `npm run build:web` (npm start and npm test do it for you).\n");
  };

  // The snippet and the two public calls it makes are embeddable from any storefront origin. They are
  // unauthenticated and read no credentials cross-site, so `*` without credentials is safe.
  router.use(["/v1/track", "/v1/referral"], (req, res, next) => {
    res.set("access-control-allow-origin", "*");
    if (req.method === "OPTIONS") {
      res
        .set("access-control-allow-methods", "GET, POST")
        .set("access-control-allow-headers", "content-type")
        .set("access-control-max-age", "86400")
        .status(204)
        .end();
      return;
    }
    next();
  });

  route(
    router,
    {
      ...pages,
      method: "get",
      path: "/snippet.js",
      summary: "Embeddable script: reads ?ref=, calls track, renders <twinrail-badge>",
      responses: [
        { status: 200, description: "the script (CORS: any origin)", contentType: "application/javascript" },
        { status: 503, description: "the pages are not built", contentType: "text/plain" },
      ],
    },
    (_req, res, _input, next) => {
      const file = path.join(WEB_DIST, "snippet.js");
      if (!existsSync(file)) return missing(_req, res, next);
      res
        .set("access-control-allow-origin", "*")
        // helmet defaults to same-origin, which would stop other storefronts from loading the script.
        .set("cross-origin-resource-policy", "cross-origin")
        .set("cache-control", "public, max-age=300")
        .type("application/javascript")
        .sendFile(file);
    },
  );

  const assets = express.static(path.join(WEB_DIST, "assets"), {
    immutable: true,
    maxAge: "365d",
    index: false,
    fallthrough: true,
  });
  router.use("/assets", pageCsp, built ? assets : missing);

  const page = (file: string): RequestHandler => {
    let html: string | undefined;
    return (req, res, next) => {
      if (!built) return missing(req, res, next);
      html ??= readFileSync(file, "utf8");
      res.set("cache-control", "no-store").type("html").send(html);
    };
  };

  const home = page(path.join(WEB_DIST, "index.html"));
  route(
    router,
    {
      ...pages,
      method: "get",
      path: "/",
      summary: "Index of the pages",
      responses: PAGE_RESPONSES,
      middleware: [pageCsp],
    },
    (req, res, _input, next) => home(req, res, next),
  );
  for (const surface of SURFACES) {
    const serve = page(path.join(WEB_DIST, surface, "index.html"));
    // Express matches /admin and /admin/ alike; the page needs the slash so its relative URLs resolve.
    route(
      router,
      {
        ...pages,
        method: "get",
        path: `/${surface}`,
        summary: `The ${surface} page`,
        responses: [
          ...PAGE_RESPONSES,
          {
            status: 301,
            description: "to the same path with a trailing slash",
            headers: { location: "the page" },
          },
        ],
        middleware: [pageCsp],
      },
      (req, res, _input, next) => {
        const [pathname = "", query = ""] = req.originalUrl.split(/\?(.*)/s);
        if (!pathname.endsWith("/")) return res.redirect(301, `${pathname}/${query ? `?${query}` : ""}`);
        serve(req, res, next);
      },
    );
  }
  return router;
}
