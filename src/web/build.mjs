#!/usr/bin/env node
/**
 * Builds the web pages and /snippet.js into dist/web when they are missing or older than their sources
 * (run by `npm start` and `npm test` through their pre-hooks, so a fresh clone just works).
 *   --force  build even when up to date      --check  type-check src/web first (tsc -p src/web)
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dist = path.join(root, "dist/web");
const stamp = path.join(dist, ".build-stamp");
const args = new Set(process.argv.slice(2));

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

function run(bin, binArgs) {
  const result = spawnSync(path.join(root, "node_modules/.bin", bin), binArgs, {
    cwd: root,
    stdio: "inherit",
  });
  if (result.status !== 0) {
    console.error(`web build: ${bin} ${binArgs.join(" ")} failed`);
    process.exit(result.status ?? 1);
  }
}

if (args.has("--check")) run("tsc", ["--noEmit", "-p", "src/web"]);

const sourcesAt = Math.max(newest(here), statSync(path.join(root, "package-lock.json")).mtimeMs);
const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
if (!args.has("--force") && builtAt >= sourcesAt && existsSync(path.join(dist, "snippet.js"))) {
  process.exit(0);
}

const started = Date.now();
run("vite", ["build", "--config", "src/web/vite.config.mts"]);
run("vite", ["build", "--config", "src/web/vite.snippet.config.mts"]);
writeFileSync(stamp, `${new Date().toISOString()}\n`);
console.log(`web pages built into dist/web in ${Date.now() - started} ms`);
