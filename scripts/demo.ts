/**
 * `npm run demo`: the whole dual-rail story over HTTP, against a freshly started instance (or the one
 * named by `--url-file .twinrail/demo.json` when you already run `npm start`). Exits non-zero on any
 * failed step. Steps: follow the referral link → signup with the cookie → an order with two vendors →
 * signed `order.paid` → both rails written → admin approves → batch mint → on-chain check that
 * `paidOrders(keccak256(ref))` is set and the referrer's token balance grew by the reward.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPublicClient, http } from "viem";
import { referralRewardsAbi, rewardTokenAbi } from "../src/chain/abi.generated.js";
import { type HttpRequestOptions, httpRequest, webhookHeaders } from "../src/client/http.js";
import type { DemoFile } from "../src/demo/seed.js";
import { orderRefHash } from "../src/domain/order-ref.js";

const report: string[] = [];
let child: ChildProcess | undefined;

function step(name: string, ok: boolean, detail: string) {
  const line = `${ok ? "✔" : "✘"} ${name.padEnd(34)} ${detail}`;
  report.push(line);
  console.log(line);
  if (!ok) throw new Error(`step failed: ${name}: ${detail}`);
}

async function startInstance(): Promise<DemoFile> {
  const dir = mkdtempSync(path.join(tmpdir(), "twinrail-demo-"));
  const demoFile = path.join(dir, "demo.json");
  const started = Date.now();
  child = spawn(process.execPath, ["--import", "tsx", "src/cli.ts", "start"], {
    env: { ...process.env, PORT: "0", DEMO: "1", DEMO_FILE: demoFile, LOG_LEVEL: "error", JOBS: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // Forward the instance's error logs (JSON lines); its banner is not part of the report.
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    for (const line of chunk.split("\n"))
      if (line.startsWith("{")) process.stderr.write(`[instance] ${line}\n`);
  });
  const exited = new Promise<never>((_, reject) =>
    child?.once("exit", (code) => reject(new Error(`instance exited with ${code}`))),
  );
  const ready = (async () => {
    for (;;) {
      if (existsSync(demoFile)) {
        const demo = JSON.parse(readFileSync(demoFile, "utf8")) as DemoFile;
        const res = await fetch(`${demo.baseUrl}/readyz`).catch(() => undefined);
        if (res?.ok) return demo;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const demo = await Promise.race([ready, exited]);
  step("start a fresh instance", true, `${demo.baseUrl} ready in ${Date.now() - started} ms`);
  return demo;
}

const api = (demo: DemoFile, method: string, pathname: string, options?: HttpRequestOptions) =>
  httpRequest(demo.baseUrl, method, pathname, options);

async function main() {
  const urlFile = process.argv.includes("--url-file")
    ? process.argv[process.argv.indexOf("--url-file") + 1]
    : undefined;
  const demo = urlFile ? (JSON.parse(readFileSync(urlFile, "utf8")) as DemoFile) : await startInstance();
  const run = randomBytes(3).toString("hex");
  const buyer = `m_bob_${run}`;
  const orderReference = `ord_demo_${run}`;

  // 1. The referral link.
  const link = await api(demo, "GET", `/r/${demo.referrer.code}`);
  const setCookies = link.headers.getSetCookie();
  const cookie = setCookies.map((c) => c.split(";")[0]).join("; ");
  step(
    "follow the referral link",
    link.status === 302 && cookie.includes("tw_ref="),
    `302 → ${link.headers.get("location")}; cookies: ${setCookies.map((c) => c.split("=")[0]).join(", ")}`,
  );

  // 2. Signup carries the cookie's code.
  const signup = await api(demo, "POST", "/v1/members", {
    key: demo.keys.integration,
    headers: { cookie },
    body: { memberId: buyer, displayName: "Bob", walletAddress: `0x${randomBytes(20).toString("hex")}` },
  });
  step(
    "signup with the cookie's code",
    signup.status === 201 && signup.body?.referredBy?.code === demo.referrer.code,
    `${buyer} referredBy ${signup.body?.referredBy?.memberId} via ${signup.body?.referredBy?.code}`,
  );

  // 3. An order with two vendors.
  const order = await api(demo, "POST", "/v1/orders", {
    key: demo.keys.integration,
    body: {
      orderReference,
      buyerMemberId: buyer,
      currency: "UAH",
      lines: [
        { lineId: "l1", vendorId: "v_books", productId: "p_novel", quantity: 2, unitAmount: "25000" },
        { lineId: "l2", vendorId: "v_books", productId: "p_atlas", quantity: 1, unitAmount: "40000" },
        { lineId: "l3", vendorId: "v_games", productId: "p_chess", quantity: 1, unitAmount: "120000" },
      ],
      shippingAmount: "5000",
      discountAmount: "10000",
    },
  });
  if (order.status !== 201) console.error(order.body);
  step(
    "order with two vendors",
    order.status === 201 && order.body?.referralApplied === true,
    `gross ${order.body?.totals?.gross}, commission ${order.body?.totals?.referralCommission}; rates ${order.body?.lines?.map((l: any) => `${l.lineId}:${l.commissionBps}bps/${l.rateSource}`).join(" ")}`,
  );

  // 4. The payment provider's signed webhook.
  const body = JSON.stringify({
    type: "order.paid",
    data: {
      orderReference,
      amountPaid: order.body.totals.gross,
      currency: "UAH",
      paymentRail: "card",
      paidAt: new Date().toISOString(),
    },
  });
  const paid = await api(demo, "POST", "/v1/webhooks/payments", {
    body,
    headers: webhookHeaders(demo.webhookSecret, body, { id: `evt_${run}` }),
  });
  if (paid.status !== 200) console.error(paid.body);
  step(
    "signed order.paid",
    paid.status === 200 && paid.body?.result === "recorded",
    `result ${paid.body?.result}, ${paid.body?.settlements} settlements, reward ${paid.body?.reward?.status}`,
  );

  // 5. Both rails.
  const settlements = await api(demo, "GET", "/v1/admin/settlements?limit=500", { key: demo.keys.admin });
  const mine = (settlements.body?.items ?? []).filter((s: any) => s.orderReference === orderReference);
  const rewards = await api(demo, "GET", `/v1/admin/rewards?referrer=${demo.referrer.memberId}&limit=200`, {
    key: demo.keys.admin,
  });
  const reward = (rewards.body?.items ?? []).find((r: any) => r.orderReference === orderReference);
  const commissionSum = mine.reduce((sum: bigint, s: any) => sum + BigInt(s.referralCommission), 0n);
  for (const s of mine) {
    report.push(
      `    rail A ${s.vendorId.padEnd(8)} gross ${s.gross} − fee ${s.platformFee} − commission ${s.referralCommission} = net ${s.net} ${s.currency} (${s.status}, due ${s.scheduledFor.slice(0, 10)})`,
    );
    console.log(report.at(-1));
  }
  step(
    "rail A: one settlement per vendor",
    mine.length === 2,
    `${mine.length} settlements, Σ commission ${commissionSum}`,
  );
  step(
    "rail B: one reward, basis = Σ commission",
    Boolean(reward) && BigInt(reward.fiatBasis) === commissionSum,
    `reward #${reward?.id} ${reward?.amountWei} wei from ${reward?.fiatBasis} minor units, ${reward?.status}`,
  );

  // 6. Admin approves, 7. batch mint.
  const approve = await api(demo, "POST", "/v1/admin/rewards/approve", {
    key: demo.keys.admin,
    body: { ids: [reward.id], note: "demo" },
  });
  step(
    "admin approves",
    approve.status === 200 && approve.body?.approved?.includes(reward.id),
    JSON.stringify(approve.body),
  );
  const rpc = createPublicClient({ transport: http(demo.chain.rpcUrl) });
  const balanceOf = () =>
    rpc.readContract({
      address: demo.chain.rewardToken as `0x${string}`,
      abi: rewardTokenAbi,
      functionName: "balanceOf",
      args: [demo.referrer.wallet as `0x${string}`],
    });
  const before = await balanceOf();
  const mint = await api(demo, "POST", "/v1/admin/mint", { key: demo.keys.admin, body: {} });
  step(
    "batch mint",
    mint.status === 200 && mint.body?.status === "confirmed" && mint.body?.rewardIds?.includes(reward.id),
    `batch ${mint.body?.batchId} tx ${mint.body?.txHash}`,
  );

  // 8. On-chain verification, through the chain's own JSON-RPC.
  const paidWord = await rpc.readContract({
    address: demo.chain.referralRewards as `0x${string}`,
    abi: referralRewardsAbi,
    functionName: "paidOrders",
    args: [orderRefHash(orderReference)],
  });
  step("on-chain paidOrders(keccak256(ref))", paidWord !== 0n, `0x${paidWord.toString(16)}`);
  const after = await balanceOf();
  step(
    "on-chain referrer balance",
    after - before === BigInt(reward.amountWei),
    `${demo.referrer.wallet} +${after - before} wei (total ${after})`,
  );
  const minted = await api(
    demo,
    "GET",
    `/v1/admin/rewards?referrer=${demo.referrer.memberId}&status=minted&limit=200`,
    { key: demo.keys.admin },
  );
  const row = minted.body?.items?.find((r: any) => r.orderReference === orderReference);
  step("reward row minted with tx hash", row?.txHash === mint.body?.txHash, `block ${row?.blockNumber}`);

  // 9. The books: journal balance, rails agreement, DB minted rows vs on-chain ReferralPaid logs.
  const reconcile = await api(demo, "GET", "/v1/admin/reconcile", { key: demo.keys.admin });
  step(
    "reconcile: 0 mismatches",
    reconcile.status === 200 && reconcile.body?.ok === true,
    `${reconcile.body?.mismatches?.length} mismatches; checked ${JSON.stringify(reconcile.body?.checked)}`,
  );

  console.log("\nDemo report");
  console.log(report.join("\n"));
}

main()
  .then(() => {
    child?.kill("SIGTERM");
    process.exit(0);
  })
  .catch((error) => {
    console.error(`\n${error instanceof Error ? error.message : error}`);
    child?.kill("SIGTERM");
    process.exit(1);
  });
