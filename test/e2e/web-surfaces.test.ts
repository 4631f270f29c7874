/**
 * The whole story in a real browser (Debian Chromium via playwright-core): referral link → storefront
 * badge → checkout → signed order.paid → admin approves and mints in the console → the referrer sees
 * the minted reward with its tx hash → the vendor sees the breakdown and downloads the same numbers as
 * CSV. Screenshots of every page land in test-results/e2e/ (git-ignored).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoFile, seedDemo } from "../../src/demo/seed.js";
import { markSettlementsDue } from "../../src/jobs/settlements.js";
import { paidEvent, startTestInstance, type TestInstance } from "../support/harness.js";

const ROOT = path.resolve(__dirname, "../..");
const SHOTS = path.join(ROOT, "test-results/e2e");

let t: TestInstance;
let demo: DemoFile;
let browser: Browser;
let context: BrowserContext;
const pageErrors: string[] = [];

async function newPage(width = 1280, height = 900): Promise<Page> {
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  page.on("pageerror", (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on("console", (message) => {
    // A CSP violation or a crash shows up here; a 404 of a not-yet-deployed endpoint and the 401 of the
    // wrong-key test are expected (and asserted on screen).
    if (message.type() === "error" && !/status of (404|401)/.test(message.text())) {
      pageErrors.push(`${page.url()}: ${message.text()}`);
    }
  });
  return page;
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  const build = spawnSync(process.execPath, [path.join(ROOT, "src/web/build.mjs")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error("building the web pages failed");
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestInstance({
    DEMO: "1",
    DEMO_FILE: path.join(tmpdir(), `twinrail-e2e-${process.pid}.json`),
  });
  demo = await seedDemo(t.services.db, t.services.config, t.services.chain);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  context = await browser.newContext({ acceptDownloads: true, locale: "en-GB", timezoneId: "UTC" });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await t?.close();
});

describe("web surfaces in Chromium", () => {
  let orderReference = "";

  it("serves the pages with a strict CSP and a snippet under 5 kB gzipped", async () => {
    const res = await fetch(`${t.baseUrl}/admin/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script element
    const snippet = await fetch(`${t.baseUrl}/snippet.js`);
    expect(snippet.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
    const gzipped = gzipSync(Buffer.from(await snippet.arrayBuffer())).length;
    console.log(`snippet.js: ${gzipped} bytes gzipped`);
    expect(gzipped).toBeLessThan(5 * 1024);
  });

  it("follows a referral link to the storefront, shows the badge and applies the referral at checkout", async () => {
    const page = await newPage();
    await page.goto(`${t.baseUrl}/r/${demo.referrer.code}`);
    expect(new URL(page.url()).pathname).toBe("/shop/");
    // Playwright's CSS locators pierce the badge's open shadow root.
    const badge = page.locator("twinrail-badge .b");
    await badge.waitFor();
    expect(await badge.innerText()).toContain("Referred by Anna — your referrer earns a reward");
    await page.locator('button[data-product="p_novel"]').click();
    await page.locator('button[data-product="p_novel"]').click();
    await page.locator('button[data-product="p_atlas"]').click();
    await page.locator('button[data-product="p_chess"]').click();
    await shot(page, "01-storefront-badge-cart");
    await page.locator("#place-order").click();
    const applied = page.getByTestId("referral-applied");
    await applied.waitFor();
    expect(await applied.innerText()).toContain("Referral applied: Anna");
    orderReference = (await page.getByTestId("order-result").getAttribute("data-order")) ?? "";
    expect(orderReference).toMatch(/^shop_/);
    await shot(page, "02-storefront-checkout-referral-applied");
    await page.close();

    // The payment provider's signed order.paid (signed by the test, as a provider would).
    const paid = await t.webhook(paidEvent(orderReference, "210000"));
    expect(paid.status).toBe(200);
    expect(paid.body.result).toBe("recorded");
  });

  it("shows a clear screen for a wrong key and keeps credentials out of the URL", async () => {
    const page = await newPage();
    await page.goto(`${t.baseUrl}/admin/#token=tw_wrong_key`);
    await page.getByTestId("signin-rejected").waitFor();
    expect(page.url()).not.toContain("token=");
    expect(await page.evaluate(() => sessionStorage.getItem("twinrail.admin.token"))).toBeNull();
    await shot(page, "03-admin-signin-rejected");
    await page.close();
  });

  it("lets the admin approve the reward with a note and mint it from the console", async () => {
    const page = await newPage();
    await page.goto(`${t.baseUrl}/admin/#token=${demo.keys.admin}`);
    expect(page.url()).not.toContain("token=");
    expect(await page.evaluate(() => sessionStorage.getItem("twinrail.admin.token"))).toBe(demo.keys.admin);
    await page.getByTestId("funnel").locator(".funnel-row").first().waitFor();
    await shot(page, "04-admin-overview-funnel");

    await page.goto(`${t.baseUrl}/admin/#/rewards`);
    const row = page.locator(`tr[data-order="${orderReference}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain("Anna");
    expect((await row.innerText()).toLowerCase()).toContain("pending approval");
    await row.locator('input[type="checkbox"]').check();
    await shot(page, "05-admin-queue-selected");
    await page.getByRole("button", { name: "Approve…" }).click();
    await page.locator("#review-note").fill("checked the order, looks genuine");
    await shot(page, "06-admin-approve-confirmation");
    await page.getByRole("button", { name: /^Approve 1$/ }).click();
    await expect.poll(async () => (await row.innerText()).toLowerCase()).toContain("approved");
    await page.locator(".toast").first().waitFor();

    await page.goto(`${t.baseUrl}/admin/#/minting`);
    await page.getByTestId("mint-now").click();
    const result = page.getByTestId("mint-result");
    await result.waitFor();
    expect((await result.innerText()).toLowerCase()).toContain("confirmed");
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select(["status", "tx_hash", "amount_wei"])
      .where("order_reference", "=", orderReference)
      .executeTakeFirstOrThrow();
    expect(reward.status).toBe("minted");
    const batches = page.getByTestId("batches-table");
    await expect.poll(async () => (await batches.innerText()).toLowerCase()).toContain("confirmed");
    expect(await batches.locator(`a[href="/tx/#${reward.tx_hash}"]`).count()).toBe(1);
    await shot(page, "07-admin-minting-batches");

    for (const [tab, name] of [
      ["settlements", "08-admin-settlements-payouts"],
      ["reconcile", "09-admin-reconciliation"],
      ["audit", "10-admin-audit-log"],
    ] as const) {
      await page.goto(`${t.baseUrl}/admin/#/${tab}`);
      await page.locator(".card").first().waitFor();
      await page.waitForLoadState("networkidle");
      await shot(page, name);
    }
    expect((await page.locator("table.data").innerText()).toLowerCase()).toContain("reward.approved");
    await page.close();
  });

  it("shows the referrer the minted reward with its transaction", async () => {
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .select(["tx_hash", "amount_wei"])
      .where("order_reference", "=", orderReference)
      .executeTakeFirstOrThrow();
    const page = await newPage();
    await page.goto(`${t.baseUrl}/referrer/#token=${demo.referrer.token}`);
    const row = page.locator(`tr[data-order="${orderReference}"]`);
    await row.waitFor();
    expect((await row.innerText()).toLowerCase()).toContain("minted");
    expect(await row.innerText()).toContain("TWR");
    const link = row.getByTestId("tx-link");
    expect(await link.getAttribute("href")).toBe(`/tx/#${reward.tx_hash}`);
    expect(await page.getByTestId("code").innerText()).toBe(demo.referrer.code);
    await page.getByTestId("qr").waitFor();
    expect(
      Number(await page.getByTestId("visits-today").locator(".stat-value").innerText()),
    ).toBeGreaterThanOrEqual(1);
    await shot(page, "11-referrer-dashboard");

    await link.click();
    await page.getByTestId("tx-hash").waitFor();
    expect(await page.getByTestId("tx-hash").innerText()).toBe(reward.tx_hash);
    expect(await page.locator("main").innerText()).toContain("1 paid");
    await shot(page, "12-transaction");
    await page.close();

    const phone = await newPage(390, 844);
    // sessionStorage is per tab: a new tab signs in again.
    await phone.goto(`${t.baseUrl}/referrer/#token=${demo.referrer.token}`);
    await phone.locator(`tr[data-order="${orderReference}"]`).waitFor();
    await shot(phone, "13-referrer-dashboard-phone");
    await phone.close();
  });

  it("shows the vendor the breakdown per line and downloads a CSV with the same numbers", async () => {
    const settlement = await t.services.db
      .selectFrom("settlements")
      .selectAll()
      .where("order_reference", "=", orderReference)
      .where("vendor_id", "=", "v_books")
      .executeTakeFirstOrThrow();
    // p_novel 2 × 250.00 at its 10 % product rate + p_atlas 400.00 at the 5 % platform default.
    expect(settlement.gross).toBe(90_000n);
    expect(settlement.referral_commission).toBe(7_000n);

    const page = await newPage();
    await page.goto(`${t.baseUrl}/vendor/#token=${demo.keys.vendor}`);
    const available =
      (
        await fetch(`${t.baseUrl}/v1/vendor/settlements`, {
          headers: { authorization: `Bearer ${demo.keys.vendor}` },
        })
      ).status !== 404;
    if (!available) {
      // The ledger's vendor endpoint has not landed in this tree: the page must say so, not break.
      await page.getByTestId("not-available").first().waitFor();
      await shot(page, "14-vendor-not-available");
      console.warn("GET /v1/vendor/settlements is not deployed yet: vendor breakdown and CSV checks skipped");
      await page.close();
      return;
    }
    const row = page.locator(`tr[data-order="${orderReference}"]`);
    await row.waitFor();
    const text = (await row.innerText()).toLowerCase();
    expect(text).toContain("900.00 uah");
    expect(text).toContain("70.00 uah");
    expect(text).toContain("10.00 %");
    expect(text).toContain("product override");
    expect(text).toContain("5.00 %");
    expect(text).toContain("platform default");
    expect(text).toContain(`${(Number(settlement.net) / 100).toFixed(2)} uah`);
    await page.waitForLoadState("networkidle");
    await shot(page, "14-vendor-settlements");

    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("csv").click()]);
    const csv = readFileSync((await download.path())!, "utf8")
      .trim()
      .split(/\r?\n/);
    const header = csv[0]!.split(",");
    const line = csv.find((entry) => entry.includes(orderReference));
    expect(line).toBeDefined();
    const cells = Object.fromEntries(line!.split(",").map((cell, index) => [header[index], cell]));
    expect(cells.gross).toBe(settlement.gross.toString());
    expect(cells.referral_commission).toBe(settlement.referral_commission.toString());
    expect(cells.platform_fee).toBe(settlement.platform_fee.toString());
    expect(cells.net).toBe(settlement.net.toString());
    await page.close();
  });

  it("turns due settlements into payouts and marks one paid from the console", async () => {
    // The hold of the 7-day vendor ends too: run the settlement job as of next week.
    await markSettlementsDue(t.services.db, new Date(Date.now() + 8 * 86_400_000));
    const page = await newPage();
    await page.goto(`${t.baseUrl}/admin/#token=${demo.keys.admin}`);
    await page.getByRole("link", { name: "Settlements & payouts" }).click();
    await page.getByRole("button", { name: /^Create payouts/ }).click();
    const markPaid = page.getByRole("button", { name: "Mark paid" }).first();
    await markPaid.waitFor();
    const created = await t.services.db
      .selectFrom("payouts")
      .select(["id", "status"])
      .orderBy("id")
      .execute();
    expect(created.length).toBeGreaterThan(0);
    await markPaid.click();
    await expect
      .poll(
        async () =>
          (await t.services.db.selectFrom("payouts").select("status").where("status", "=", "paid").execute())
            .length,
      )
      .toBe(1);
    await page.waitForLoadState("networkidle");
    await shot(page, "15-admin-payouts");
    await page.close();
  });

  it("raised no script errors or CSP violations on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});
