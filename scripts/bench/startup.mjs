#!/usr/bin/env node
/**
 * Startup bench (issue 13): how long `npm start` takes on a fresh clone, the way a user runs it.
 *
 *   node scripts/bench/startup.mjs [--dir /tmp/clone] [--runs 3] [--port 3917] [--keep]
 *
 * Without --dir it clones this repository (`git clone`, so only committed files) into a temporary
 * directory and runs `npm ci` there (install time printed, not counted). Then, `--runs` times:
 *   bare    `.twinrail/` and `dist/web/` deleted (everything install and start generate), then `npm start`:
 *           the boot with nothing prepared (pages built by `prestart`, PGlite initdb + migrations)
 *   first   deleted again, the root `postinstall` run as `npm ci` runs it (timed, not counted), `npm start`:
 *           the first start of a fresh clone after `npm ci`
 *   second  `npm start` again, with what the first one left behind
 * and prints, from the spawn of `npm start`: the banner ("Twinrail is ready at …"), /readyz answering
 * 200, and the pages usable (GET /admin/ 200 and the signed-in admin's first API read,
 * GET /v1/admin/stats, 200), plus the CPU seconds its processes had used by /readyz (less sensitive
 * to other work on the machine than the wall clock). The service is stopped (SIGTERM to its process
 * group) after each start. With --dir the clone is reused as it is (run `npm ci` in it yourself);
 * --keep leaves the temporary clone; --no-bare skips the bare starts. The load average is printed with
 * the figures: other work on the cores moves them.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] : fallback;
};
const runs = Number(option("runs", "3"));
const port = Number(option("port", "3917"));
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

let dir = option("dir", undefined);
let temporary = false;
if (!dir) {
  dir = path.join(mkdtempSync(path.join(os.tmpdir(), "twinrail-startup-")), "clone");
  temporary = true;
  execFileSync("git", ["clone", "--quiet", repo, dir], { stdio: "inherit" });
  const installStarted = performance.now();
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "inherit" });
  console.log(`npm ci: ${((performance.now() - installStarted) / 1000).toFixed(1)} s (not counted)`);
}
dir = path.resolve(dir);
if (!existsSync(path.join(dir, "node_modules")))
  throw new Error(`${dir} has no node_modules: run npm ci there`);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function status(url, headers = {}) {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** Polls `check` every 10 ms until it is true; the time since `t0`, in ms. */
async function until(t0, check, what) {
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > 120_000) throw new Error(`${what}: not within 120 s`);
    await sleep(10);
  }
}

/** CPU seconds (user + system, reaped children included) of the processes in process group `pgid`. */
function groupCpuSeconds(pgid) {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces): state ppid pgrp … utime(14) stime cutime cstime.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks / 100; // USER_HZ
}

/** One `npm start`: ms from spawn to banner, to /readyz 200, to the pages usable. */
async function start() {
  const env = { ...process.env, PORT: String(port), LOG_LEVEL: "warn" };
  for (const name of ["DATABASE_URL", "RPC_URL", "DATA_DIR", "NODE_OPTIONS", "HARDHAT_CONFIG"])
    delete env[name];
  const t0 = performance.now();
  const child = spawn("npm", ["start"], { cwd: dir, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let banner;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const onData = (chunk) => {
    out += chunk;
    if (banner === undefined && out.includes("Twinrail is ready at")) banner = performance.now() - t0;
  };
  child.stdout.setEncoding("utf8").on("data", onData);
  child.stderr.setEncoding("utf8").on("data", onData);
  try {
    const base = `http://127.0.0.1:${port}`;
    const readyz = await until(
      t0,
      async () => {
        if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${out}`);
        return (await status(`${base}/readyz`)) === 200;
      },
      "/readyz",
    );
    const cpu = existsSync("/proc/self/stat") ? groupCpuSeconds(child.pid) : Number.NaN;
    await until(t0, () => banner !== undefined, "banner");
    // The admin key of the demo, from the banner.
    const admin = /admin API key\s+(\S+)/.exec(out)?.[1];
    if (!admin) throw new Error(`no admin key in the banner:\n${out}`);
    const pages = await until(
      t0,
      async () =>
        (await status(`${base}/admin/`)) === 200 &&
        (await status(`${base}/v1/admin/stats`, { authorization: `Bearer ${admin}` })) === 200,
      "pages",
    );
    // What a start leaves for the next one (the snapshot, written in the background): waited for.
    const snapshot = () =>
      existsSync(path.join(dir, ".twinrail")) &&
      readdirSync(path.join(dir, ".twinrail")).some((name) => /^pglite-template-.*\.tar(\.gz)?$/.test(name));
    await until(performance.now(), async () => snapshot(), "the snapshot");
    const boot = /\(boot (\d+) ms\)/.exec(out)?.[1];
    return { banner, readyz, pages, cpu, boot: boot ? Number(boot) : Number.NaN };
  } finally {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    await Promise.race([exited, sleep(15_000)]);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    // The port must be free for the next start.
    await until(
      performance.now(),
      async () => (await status(`http://127.0.0.1:${port}/healthz`)) === 0,
      "stop",
    );
  }
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;
const kinds = argv.includes("--no-bare") ? ["first", "second"] : ["bare", "first", "second"];
const results = Object.fromEntries(kinds.map((kind) => [kind, []]));
const clean = () => {
  rmSync(path.join(dir, ".twinrail"), { recursive: true, force: true });
  rmSync(path.join(dir, "dist/web"), { recursive: true, force: true });
};
for (let run = 1; run <= runs; run++) {
  for (const kind of kinds) {
    if (kind === "bare") clean();
    if (kind === "first") {
      clean();
      const started = performance.now();
      // (A checkout from before the install-time preparation has none: then first = bare.)
      const scripts = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).scripts ?? {};
      if (scripts.postinstall)
        execFileSync("npm", ["run", "--silent", "postinstall"], {
          cwd: dir,
          stdio: ["ignore", "ignore", "inherit"],
        });
      console.log(`run ${run} postinstall (part of npm ci, not counted) ${fmt(performance.now() - started)}`);
    }
    const load = os.loadavg()[0].toFixed(2);
    const r = await start();
    results[kind].push(r);
    console.log(
      `run ${run} ${kind.padEnd(6)}  spawn→banner ${fmt(r.banner)}  spawn→readyz ${fmt(r.readyz)}  ` +
        `spawn→pages ${fmt(r.pages)}  cpu by readyz ${r.cpu.toFixed(2)} s  (boot in-process ${r.boot} ms, load ${load})`,
    );
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};
console.log(
  `\nmedian of ${runs} (${os.cpus().length} cores, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} after the runs):`,
);
for (const kind of kinds) {
  const rs = results[kind];
  console.log(
    `  ${kind.padEnd(6)} start  spawn→banner ${fmt(median(rs.map((r) => r.banner)))}  ` +
      `spawn→readyz ${fmt(median(rs.map((r) => r.readyz)))}  spawn→pages ${fmt(median(rs.map((r) => r.pages)))}  ` +
      `cpu by readyz ${median(rs.map((r) => r.cpu)).toFixed(2)} s`,
  );
}
if (temporary && !argv.includes("--keep")) rmSync(path.dirname(dir), { recursive: true, force: true });
