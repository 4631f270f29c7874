import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const pages = ["admin", "vendor", "referrer", "shop", "tx"];

/** One multi-page build: each surface is its own small SPA sharing lib/ (API client, formatting, UI). */
export default defineConfig({
  root: here,
  base: "/",
  plugins: [preact()],
  // "error": the shop page's classic <script src="/snippet.js"> is meant to stay unbundled.
  logLevel: "error",
  build: {
    outDir: resolve(here, "../../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    // No inline scripts anywhere: the strict CSP on these pages forbids them.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rollupOptions: {
      input: {
        hub: resolve(here, "index.html"),
        ...Object.fromEntries(pages.map((page) => [page, resolve(here, page, "index.html")])),
      },
    },
  },
});
