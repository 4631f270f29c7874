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
import { createPublicClient, http, parseEventLogs } from "viem";
import { referralRewardsAbi, referralRewardsV2Abi, rewardTokenAbi } from "../src/chain/abi.generated.js";
import { createTwinrailClient, sendPaymentWebhook, type TwinrailClient } from "../src/client/index.js";
import type { DemoHistoryStatus } from "../src/demo/background.js";
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
  let readyAt: number | undefined;
  const ready = (async () => {
    for (;;) {
      if (existsSync(demoFile)) {
        const demo = JSON.parse(readFileSync(demoFile, "utf8")) as DemoFile & { history?: DemoHistoryStatus };
        const res = await fetch(`${demo.baseUrl}/readyz`).catch(() => undefined);
        if (res?.ok && !readyAt) {
          readyAt = Date.now();
          step("start a fresh instance", true, `${demo.baseUrl} ready in ${readyAt - started} ms`);
        }
        // The story's mint must not race the history's own batch: wait for the background seed.
        if (res?.ok && demo.history?.status !== "seeding") {
          step(
            "30 days of demo history",
            demo.history?.status === "ready",
            demo.history?.status === "ready"
              ? `${demo.history.orders} orders, ${demo.history.visits} visits, ${demo.history.mintedRewards} minted, ${demo.history.payouts} payouts; seeded ${Date.now() - (readyAt ?? started)} ms after ready`
              : JSON.stringify(demo.history),
          );
          return demo;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return Promise.race([ready, exited]);
}

/** The typed client (`twinrail/client`) with the demo file's key of each role. */
function clients(demo: DemoFile) {
  const client = (token?: string): TwinrailClient =>
    createTwinrailClient({ baseUrl: demo.baseUrl, token, redirect: "manual" });
  return { anonymous: client(), integration: client(demo.keys.integration), admin: client(demo.keys.admin) };
}

async function main() {
  const urlFile = process.argv.includes("--url-file")
    ? process.argv[process.argv.indexOf("--url-file") + 1]
    : undefined;
  const demo = urlFile ? (JSON.parse(readFileSync(urlFile, "utf8")) as DemoFile) : await startInstance();
  const run = randomBytes(3).toString("hex");
  const buyer = `m_bob_${run}`;
  const orderReference = `ord_demo_${run}`;
  const api = clients(demo);

  // 1. The referral link.
  // The redirect declares no path schema (a plain node:http handler answers it): the code goes in as is.
  const link = await api.anonymous.GET("/r/{code}", {
    params: { path: { code: demo.referrer.code } } as never,
    parseAs: "text",
  });
  const setCookies = link.response.headers.getSetCookie();
  const cookie = setCookies.map((c) => c.split(";")[0]).join("; ");
  step(
    "follow the referral link",
    link.response.status === 302 && cookie.includes("tw_ref="),
    `302 → ${link.response.headers.get("location")}; cookies: ${setCookies.map((c) => c.split("=")[0]).join(", ")}`,
  );

  // 2. Signup carries the cookie's code.
  const signup = await api.integration.POST("/v1/members", {
    headers: { cookie },
    body: { memberId: buyer, displayName: "Bob", walletAddress: `0x${randomBytes(20).toString("hex")}` },
  });
  step(
    "signup with the cookie's code",
    signup.response.status === 201 && signup.data?.referredBy?.code === demo.referrer.code,
    `${buyer} referredBy ${signup.data?.referredBy?.memberId} via ${signup.data?.referredBy?.code}`,
  );

  // 3. An order with two vendors.
  const order = await api.integration.POST("/v1/orders", {
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
  if (!order.data) console.error(order.error);
  step(
    "order with two vendors",
    order.response.status === 201 && order.data?.referralApplied === true,
    `gross ${order.data?.totals?.gross}, commission ${order.data?.totals?.referralCommission}; rates ${order.data?.lines?.map((l) => `${l.lineId}:${l.commissionBps}bps/${l.rateSource}`).join(" ")}`,
  );
  if (!order.data) throw new Error("no order");

  // 4. The payment provider's signed webhook.
  const paid = await sendPaymentWebhook(
    api.anonymous,
    demo.webhookSecret,
    {
      type: "order.paid",
      data: {
        orderReference,
        amountPaid: order.data.totals.gross,
        currency: "UAH",
        paymentRail: "card",
        paidAt: new Date().toISOString(),
      },
    },
    { id: `evt_${run}` },
  );
  if (!paid.data) console.error(paid.error);
  step(
    "signed order.paid",
    paid.response.status === 200 && paid.data?.result === "recorded",
    `result ${paid.data?.result}, ${paid.data?.settlements} settlements, reward ${(paid.data?.reward as { status?: string } | undefined)?.status}`,
  );

  // 5. Both rails.
  const settlements = await api.admin.GET("/v1/admin/settlements", { params: { query: { limit: 500 } } });
  const mine = (settlements.data?.items ?? []).filter((s) => s.orderReference === orderReference);
  const rewards = await api.admin.GET("/v1/admin/rewards", {
    params: { query: { referrer: demo.referrer.memberId, limit: 200 } },
  });
  const reward = (rewards.data?.items ?? []).find((r) => r.orderReference === orderReference);
  const commissionSum = mine.reduce((sum, s) => sum + BigInt(s.referralCommission), 0n);
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
    Boolean(reward) && BigInt(reward?.fiatBasis ?? -1) === commissionSum,
    `reward #${reward?.id} ${reward?.amountWei} wei from ${reward?.fiatBasis} minor units, ${reward?.status}`,
  );
  if (!reward) throw new Error("no reward");

  // 6. Admin approves, 7. batch mint.
  const approve = await api.admin.POST("/v1/admin/rewards/approve", {
    body: { ids: [reward.id], note: "demo" },
  });
  step(
    "admin approves",
    approve.response.status === 200 && approve.data?.approved?.includes(reward.id) === true,
    JSON.stringify(approve.data ?? approve.error),
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
  const mint = await api.admin.POST("/v1/admin/mint", { body: {} });
  const batch = mint.data;
  step(
    "batch mint",
    mint.response.status === 200 &&
      batch?.status === "confirmed" &&
      batch?.rewardIds?.includes(reward.id) === true,
    `batch ${batch?.batchId} tx ${batch?.txHash}`,
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
  // Issue 15: approvals are on and the batch carried an approver's EIP-712 signature (on the demo chain the
  // service holds that key, Hardhat #19: demo only; docs/contracts.md "ReferralRewardsV2: approvals").
  const [approvalsOn, receipt] = await Promise.all([
    rpc.readContract({
      address: demo.chain.referralRewards as `0x${string}`,
      abi: referralRewardsV2Abi,
      functionName: "approvalsRequired",
    }),
    rpc.getTransactionReceipt({ hash: batch?.txHash as `0x${string}` }),
  ]);
  const approvers = parseEventLogs({
    abi: referralRewardsV2Abi,
    logs: receipt.logs,
    eventName: "BatchApproved",
  });
  step(
    "on-chain approval (EIP-712)",
    approvalsOn && approvers.length === 1,
    `approvals ${approvalsOn ? "on" : "off"}; batch signed by approver ${approvers[0]?.args.approver}`,
  );
  const minted = await api.admin.GET("/v1/admin/rewards", {
    params: { query: { referrer: demo.referrer.memberId, status: "minted", limit: 200 } },
  });
  const row = minted.data?.items?.find((r) => r.orderReference === orderReference);
  step("reward row minted with tx hash", row?.txHash === batch?.txHash, `block ${row?.blockNumber}`);

  // 9. The books: journal balance, rails agreement, DB minted rows vs on-chain ReferralPaid logs.
  const reconcile = await api.admin.GET("/v1/admin/reconcile");
  step(
    "reconcile: 0 mismatches",
    reconcile.response.status === 200 && reconcile.data?.ok === true,
    `${reconcile.data?.mismatches?.length} mismatches; checked ${JSON.stringify(reconcile.data?.checked)}`,
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
