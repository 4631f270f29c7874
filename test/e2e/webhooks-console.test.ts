/**
 * The admin console's Webhooks tab in Chromium: an endpoint disabled after 5 days of failures says so
 * and can be enabled again; a delivery whose retry schedule ran out is listed as failed with a Retry
 * button that schedules one more attempt. The failures are real ones (a local receiver answering 500,
 * the delivery job driven by a moved clock). Screenshot in test-results/e2e/.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { WebhookDispatcher } from "../../src/webhooks/dispatcher.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  type TestInstance,
} from "../support/harness.js";
import { startReceiver } from "../support/webhook-receiver.js";

const ROOT = path.resolve(__dirname, "../..");
const SHOTS = path.join(ROOT, "test-results/e2e");
const HOUR = 3_600_000;

let t: TestInstance;
let browser: Browser;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  const build = spawnSync(process.execPath, [path.join(ROOT, "src/web/build.mjs")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error("building the web pages failed");
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestInstance({ WEBHOOK_ALLOW_PRIVATE_TARGETS: "1" });
  await seedCatalog(t);
  receiver = await startReceiver([500]);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await t?.close();
});

describe("admin console: webhooks", () => {
  it("shows a disabled endpoint with its reason and its failed deliveries; Enable and Retry act", async () => {
    const created = await t.request("POST", "/v1/admin/webhook-endpoints", {
      key: t.keys.admin,
      body: { url: receiver.url, events: ["reward.created"] },
    });
    const endpointId = created.body.id as string;
    let now = Date.now() + 1000;
    const run = new WebhookDispatcher({
      db: t.services.db,
      logger: createLogger("silent"),
      allowPrivate: true,
      now: () => new Date(now),
    });
    const db = t.services.db;
    for (let order = 0; order < 200; order++) {
      const endpoint = await db
        .selectFrom("webhook_endpoints")
        .select("enabled")
        .where("id", "=", BigInt(endpointId))
        .executeTakeFirstOrThrow();
      if (!endpoint.enabled) break;
      const next = await db
        .selectFrom("webhook_deliveries")
        .select((eb) => eb.fn.min("next_attempt_at").as("at"))
        .where("status", "=", "pending")
        .executeTakeFirst();
      if (!next?.at) {
        const ref = `ord_console_${order}`;
        expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
        now += 3 * HOUR;
        continue;
      }
      now = Math.max(now, new Date(next.at).getTime());
      await run.runOnce();
    }

    const page = await (await browser.newContext({ locale: "en-GB", timezoneId: "UTC" })).newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${t.baseUrl}/admin/#token=${t.keys.admin}`);
    await page.getByRole("link", { name: "Webhooks" }).click();
    const endpoints = page.getByTestId("webhook-endpoints");
    await endpoints.getByText(receiver.url).waitFor();
    expect(await endpoints.innerText()).toMatch(/disabled/i);
    expect(await endpoints.innerText()).toContain("failed for 5 days");
    const failed = page.getByTestId(`webhook-failed-${endpointId}`);
    await failed.waitFor();
    expect(await failed.innerText()).toContain("reward.created");
    expect(await failed.innerText()).toContain("HTTP 500");
    await page.screenshot({ path: path.join(SHOTS, "20-admin-webhooks.png"), fullPage: true });

    await endpoints.getByRole("button", { name: "Enable" }).click();
    await expect
      .poll(
        async () =>
          (await db.selectFrom("webhook_endpoints").select("enabled").executeTakeFirstOrThrow()).enabled,
      )
      .toBe(true);
    await page.reload();
    const retry = page
      .getByTestId(`webhook-failed-${endpointId}`)
      .getByRole("button", { name: "Retry" })
      .first();
    await retry.waitFor();
    await retry.click();
    await expect
      .poll(
        async () =>
          (
            await db
              .selectFrom("webhook_deliveries")
              .select("id")
              .where("status", "=", "pending")
              .where("attempts", ">=", 8)
              .execute()
          ).length,
      )
      .toBe(1);
  }, 120_000);
});
