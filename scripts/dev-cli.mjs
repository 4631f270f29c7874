#!/usr/bin/env node
/**
 * `npm start` = `node scripts/dev-cli.mjs start`: the CLI of src/ (src/cli.ts) without tsx at run time.
 * src/ is bundled by esbuild into dist/dev/cli.cjs (packages stay external: node_modules loads as usual,
 * nothing is type-checked, as with tsx) and the bundle runs in this process. tsx loads each of the ~180
 * source files through its loader; one bundle starts ~0.7–0.9 s sooner (docs/startup.md).
 *
 * Never stale: before it runs, the bundle is rebuilt (~0.2 s) when it is missing or when any file it was
 * built from changed — a SHA-256 of their contents (the inputs esbuild reports), package.json,
 * package-lock.json, tsconfig.json, this script and esbuild's version, recorded in dist/dev/cli.inputs.json.
 * Contents, not modification times: a file restored with an old mtime still counts as changed.
 *   node scripts/dev-cli.mjs <command> [options]     (any `twinrail` command)
 *   node scripts/dev-cli.mjs --build-only             (build when stale, run nothing: the root postinstall)
 * WebAssembly (the embedded PGlite) runs on V8's baseline compiler only, see below.
 * Stack traces name the bundle's lines (each file's code follows a `// src/…` comment there);
 * TWINRAIL_SOURCE_MAPS=1 maps them to src/ as tsx does, at 0.1–0.3 s more per start.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outfile = path.join(root, "dist/dev/cli.cjs");
const recordFile = path.join(root, "dist/dev/cli.inputs.json");
const require = createRequire(import.meta.url);
const FIXED = ["package.json", "package-lock.json", "tsconfig.json", "scripts/dev-cli.mjs"];

function digest(files, esbuildVersion) {
  const hash = createHash("sha256").update(esbuildVersion);
  for (const file of files) {
    hash.update(`\0${file}\0`);
    try {
      hash.update(readFileSync(path.join(root, file)));
    } catch {
      hash.update("\0missing\0");
    }
  }
  return hash.digest("hex");
}

function upToDate() {
  if (!existsSync(outfile) || !existsSync(recordFile)) return false;
  try {
    const record = JSON.parse(readFileSync(recordFile, "utf8"));
    return (
      Array.isArray(record.inputs) && digest([...FIXED, ...record.inputs], record.esbuild) === record.hash
    );
  } catch {
    return false;
  }
}

function build() {
  const esbuild = require("esbuild");
  const started = Date.now();
  const result = esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: ["src/cli.ts"],
    outfile,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    packages: "external",
    sourcemap: true,
    keepNames: true,
    metafile: true,
    logLevel: "warning",
  });
  const inputs = Object.keys(result.metafile.inputs).sort();
  mkdirSync(path.dirname(recordFile), { recursive: true });
  // A file saved while esbuild read it: no record, so the next start builds again.
  const changedDuring = inputs.some((file) => statSync(path.join(root, file)).mtimeMs >= started);
  if (!changedDuring) {
    const record = { esbuild: esbuild.version, inputs, hash: digest([...FIXED, ...inputs], esbuild.version) };
    writeFileSync(`${recordFile}.tmp`, `${JSON.stringify(record)}\n`);
    renameSync(`${recordFile}.tmp`, recordFile);
  }
  console.error(`src/ bundled into dist/dev/cli.cjs in ${Date.now() - started} ms`);
}

if (!upToDate()) build();
if (process.argv[2] === "--build-only") process.exit(0);
if (process.env.TWINRAIL_SOURCE_MAPS === "1") process.setSourceMapsEnabled(true);
// The embedded PGlite (Postgres compiled to WebAssembly) on V8's baseline compiler only: optimizing its hot
// functions with TurboFan took more CPU, on the cores the service runs on, than the optimized code saved in a
// dev/demo session (npm start: 3.5 → 2.1 CPU-seconds to /readyz, the demo history 10.0 → 6.5 s, load 10;
// docs/startup.md). Only WebAssembly is affected; TWINRAIL_WASM_TIER_UP=1 keeps V8's default.
if (process.env.TWINRAIL_WASM_TIER_UP !== "1") v8.setFlagsFromString("--liftoff-only");
process.argv = [process.argv[0], outfile, ...process.argv.slice(2)];
require(outfile);
