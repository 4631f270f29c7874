import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

/** `/snippet.js`: one dependency-free IIFE that any storefront can embed. */
export default defineConfig({
  root: here,
  logLevel: "warn",
  build: {
    outDir: resolve(here, "../../dist/web"),
    emptyOutDir: false,
    target: "es2019",
    minify: true,
    lib: {
      entry: resolve(here, "snippet/snippet.ts"),
      name: "TwinrailSnippet",
      formats: ["iife"],
      fileName: () => "snippet.js",
    },
  },
});
