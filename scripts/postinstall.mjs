#!/usr/bin/env node
/**
 * The root `postinstall` (runs on `npm ci` / `npm install` in this checkout): prepares what the first
 * `npm start` would otherwise make on its boot path, so a fresh clone starts in seconds:
 *   - the web pages in dist/web (src/web/build.mjs, skipped when up to date; needs vite, a dev dependency);
 *   - the bundle `npm start` runs, dist/dev/cli.cjs (scripts/dev-cli.mjs, rebuilt by it whenever stale);
 *   - the embedded database's migrated snapshot in .twinrail/ (scripts/pglite-snapshot.ts, through tsx).
 * Best effort: it never fails the install. Without the dev dependencies (`npm ci --omit=dev`, a production
 * install) both are skipped; a missing or unusable snapshot only means `npm start` runs PGlite's initdb and
 * the migrations itself (and writes the snapshot after it is up), `npm start` builds missing pages in its
 * `prestart` and a missing bundle before it runs. TWINRAIL_SKIP_POSTINSTALL=1 skips it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const has = (bin) => existsSync(path.join(root, "node_modules/.bin", bin));

function run(what, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "inherit", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", (error) => resolve(`${what}: ${error.message}`));
    child.on("exit", (code) =>
      resolve(
        code === 0
          ? undefined
          : `${what} failed (exit ${code}): ${stderr.trim().split("\n").slice(-5).join("\n")}`,
      ),
    );
  });
}

if (process.env.TWINRAIL_SKIP_POSTINSTALL === "1") process.exit(0);
if (!has("vite") || !has("tsx")) {
  console.log(
    "twinrail postinstall: dev dependencies not installed; pages and database snapshot not prepared",
  );
  process.exit(0);
}
// Both at once: one is mostly vite/esbuild, the other PGlite's initdb.
const failures = (
  await Promise.all([
    run("web build", ["src/web/build.mjs"]),
    run("start bundle", ["scripts/dev-cli.mjs", "--build-only"]),
    run("database snapshot", ["--import", "tsx", "scripts/pglite-snapshot.ts"]),
  ])
).filter(Boolean);
for (const failure of failures) {
  console.warn(`twinrail postinstall: ${failure}\n  (not fatal: npm start prepares it instead, only slower)`);
}
