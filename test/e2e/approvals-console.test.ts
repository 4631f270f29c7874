/**
 * The admin console's "Awaiting approval" section in Chromium, wallet mode (APPROVER_KEYS_MODE=wallet):
 * a batch the minter left awaiting approval is listed; "Sign with wallet" calls the injected wallet's
 * `eth_requestAccounts` and `eth_signTypedData_v4` (here an EIP-1193 stand-in that signs with the
 * Hardhat approver key in the test process) and posts the signature; the next mint pass mints it.
 * Screenshot in test-results/e2e/.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_APPROVER } from "../../src/chain/index.js";
import {
  orderBody,
  paidEvent,
  seedCatalog,
  startTestInstance,
  type TestInstance,
} from "../support/harness.js";

const ROOT = path.resolve(__dirname, "../..");
const SHOTS = path.join(ROOT, "test-results/e2e");

let t: TestInstance;
let browser: Browser;

beforeAll(async () => {
  const build = spawnSync(process.execPath, [path.join(ROOT, "src/web/build.mjs")], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (build.status !== 0) throw new Error("building the web pages failed");
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestInstance({ APPROVER_KEYS_MODE: "wallet" });
  await seedCatalog(t);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** What the wallet signs: the JSON of eth_signTypedData_v4, uint values back to numbers. */
function fromWalletJson(json: string) {
  const typed = JSON.parse(json);
  const { EIP712Domain: _domain, ...types } = typed.types;
  return {
    domain: typed.domain,
    types,
    primaryType: typed.primaryType,
    message: {
      payouts: typed.message.payouts.map((payout: { amount: string }) => ({
        ...payout,
        amount: BigInt(payout.amount),
      })),
      batchId: BigInt(typed.message.batchId),
      deadline: BigInt(typed.message.deadline),
    },
  };
}

describe("admin console: wallet approvals", () => {
  it("lists the batch awaiting approval; Sign with wallet signs the typed data, posts it, and the batch mints", async () => {
    const ref = "ORD-console-wallet";
    expect((await t.webhook(paidEvent(ref, "170000", { order: orderBody(ref) }))).status).toBe(200);
    const reward = await t.services.db
      .selectFrom("referral_rewards")
      .selectAll()
      .where("order_reference", "=", ref)
      .executeTakeFirstOrThrow();
    await t.request("POST", "/v1/admin/rewards/approve", {
      key: t.keys.admin,
      body: { ids: [reward.id.toString()] },
    });
    const pass = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(pass.body).toMatchObject({ status: "waiting", error: "awaiting_approval" });
    const batchId = pass.body.batchId as string;

    const approver = privateKeyToAccount(DEMO_APPROVER.privateKey);
    const calls: string[] = [];
    const page = await (await browser.newContext({ locale: "en-GB", timezoneId: "UTC" })).newPage();
    await page.exposeFunction("__walletRequest", async (method: string, params: unknown[]) => {
      calls.push(method);
      if (method === "eth_requestAccounts") return [approver.address];
      if (method === "eth_signTypedData_v4") {
        expect(String(params[0]).toLowerCase()).toBe(approver.address.toLowerCase());
        return approver.signTypedData(fromWalletJson(params[1] as string));
      }
      throw new Error(`unsupported ${method}`);
    });
    await page.addInitScript(() => {
      type Bridge = { __walletRequest: (method: string, params: unknown[]) => Promise<unknown> };
      (window as unknown as { ethereum: unknown }).ethereum = {
        request: ({ method, params }: { method: string; params?: unknown[] }) =>
          (window as unknown as Bridge).__walletRequest(method, params ?? []),
      };
    });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${t.baseUrl}/admin/#token=${t.keys.admin}`);
    await page.getByRole("link", { name: "Minting" }).click();
    const table = page.getByTestId("awaiting-approval-table");
    await table.waitFor();
    expect(await table.innerText()).toContain(`#${batchId}`);
    await page.screenshot({ path: path.join(SHOTS, "30-admin-awaiting-approval.png"), fullPage: true });

    await page.getByTestId(`sign-batch-${batchId}`).click();
    await expect
      .poll(
        async () =>
          (
            await t.services.db
              .selectFrom("mint_batches")
              .select("status")
              .where("id", "=", BigInt(batchId))
              .executeTakeFirstOrThrow()
          ).status,
      )
      .toBe("approval_signed");
    expect(calls).toEqual(["eth_requestAccounts", "eth_signTypedData_v4"]);

    const sent = await t.request("POST", "/v1/admin/mint", { key: t.keys.admin, body: {} });
    expect(sent.body).toMatchObject({ status: "confirmed", minted: 1, batchId });
  }, 120_000);
});
