/**
 * The four pages a newcomer opens from the banner of a fresh `npm start` (the CLI's `start` in demo
 * mode, in a child process as `npm start` runs it), desktop and phone, once the 30 days of demo history
 * are seeded: test-results/screens/{shop,referrer,admin,vendor}-{desktop,phone}.png. Also measures the
 * time from spawn to /readyz and to the history being ready (test-results/screens/timings.json).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoHistoryStatus } from "../../src/demo/background.js";
import type { DemoFile } from "../../src/demo/seed.js";

const ROOT = path.resolve(__dirname, "../..");
const SHOTS = path.join(ROOT, "test-results/screens");
const DEVICES = {
  desktop: { viewport: { width: 1366, height: 900 }, deviceScaleFactor: 1, isMobile: false, hasTouch: false },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
} as const;

let child: ChildProcess | undefined;
let browser: Browser;
let demo: DemoFile & { history?: DemoHistoryStatus };
const timings: Record<string, number> = {};
const pageErrors: string[] = [];

beforeAll(async () => {
  const build = spawnSync(process.execPath, [path.join(ROOT, "src/web/build.mjs")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error("building the web pages failed");
  mkdirSync(SHOTS, { recursive: true });
  const demoFile = path.join(tmpdir(), `twinrail-screens-${process.pid}.json`);
  const started = Date.now();
  child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "start"], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", DEMO: "1", DEMO_FILE: demoFile, LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let ready = false; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    if (!existsSync(demoFile)) continue;
    demo = JSON.parse(readFileSync(demoFile, "utf8"));
    if (!ready) {
      ready = (await fetch(`${demo.baseUrl}/readyz`).catch(() => undefined))?.ok === true;
      if (ready) timings.readyMs = Date.now() - started;
    }
    if (ready && demo.history && demo.history.status !== "seeding") break;
  }
  timings.historyMs = Date.now() - started;
  writeFileSync(
    path.join(SHOTS, "timings.json"),
    `${JSON.stringify({ ...timings, history: demo.history }, null, 2)}\n`,
  );
  console.log(`npm start: ready after ${timings.readyMs} ms, history seeded after ${timings.historyMs} ms`);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  child?.kill("SIGTERM");
});

async function open(device: keyof typeof DEVICES, url: string): Promise<Page> {
  const context = await browser.newContext({ ...DEVICES[device], locale: "en-GB", timezoneId: "UTC" });
  const page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(`${url}: ${error.message}`));
  await page.goto(url, { waitUntil: "networkidle" });
  return page;
}

describe("the demo's four pages after a fresh npm start, desktop and phone", () => {
  it("seeds the history in the background", () => {
    expect(demo.history?.status).toBe("ready");
  });

  const pages = {
    shop: () => `${demo.baseUrl}/r/${demo.referrer.code}`,
    referrer: () => `${demo.baseUrl}/referrer/#token=${demo.referrer.token}`,
    admin: () => `${demo.baseUrl}/admin/#token=${demo.keys.admin}`,
    vendor: () => `${demo.baseUrl}/vendor/#token=${demo.keys.vendor}`,
  };
  for (const [name, url] of Object.entries(pages)) {
    for (const device of Object.keys(DEVICES) as Array<keyof typeof DEVICES>) {
      it(`${name} on a ${device}`, async () => {
        const page = await open(device, url());
        // Charts draw into canvases once their data arrived (the referrer's and the vendor's pages); the
        // admin overview is figures and a funnel, the storefront a catalog.
        if (name === "referrer" || name === "vendor")
          await page.waitForSelector("canvas", { timeout: 20_000 });
        await page.waitForFunction(() => !/Loading/i.test(document.body.innerText), undefined, {
          timeout: 20_000,
        });
        await page.waitForTimeout(300);
        if (device === "phone") {
          // Wide tables scroll inside their cards; the page itself is never wider than the phone (a
          // mobile browser widens its layout viewport to the content, so innerWidth would follow it).
          // It failed on the vendor page at 733 px (a grid column as wide as its table, and the chart's
          // hidden data table) and on the admin overview at 500 px before their fixes.
          const width = await page.evaluate(() => document.documentElement.scrollWidth);
          expect(width).toBeLessThanOrEqual(DEVICES.phone.viewport.width);
        }
        const text = await page.locator("body").innerText();
        // Real numbers, not an empty dashboard: some figure above zero is on the page.
        expect(text).toMatch(/[1-9]/);
        await page.screenshot({ path: path.join(SHOTS, `${name}-${device}.png`), fullPage: true });
        await page.context().close();
      });
    }
  }

  it("raised no page errors", () => {
    expect(pageErrors).toEqual([]);
  });
});
