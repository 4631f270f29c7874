/** A small read-only transaction view over the embedded chain's JSON-RPC (`/v1/chain/rpc`). */
import { count, tokensExact } from "../lib/format";
import "../lib/styles.css";

const REFERRAL_PAID = "0x1b5fb2374dfcefa2f47244d090beca64a3d1696d9583fa9df4522f8fc3bc572c";
const REFERRAL_SKIPPED = "0x661ab2f4e26de5efbbeb21699540793505ac1ac2567857e2ea3b9a1e85388731";

interface Log {
  address: string;
  topics: string[];
  data: string;
}
interface Receipt {
  status: string;
  blockNumber: string;
  gasUsed: string;
  from: string;
  to: string;
  logs: Log[];
}

async function rpc<T>(method: string, params: unknown[]): Promise<T> {
  const res = await fetch("/v1/chain/rpc", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  if (res.status === 404)
    throw new Error("this server runs against an external chain; use that chain's explorer");
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result as T;
}

function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function row(label: string, value: Node | string) {
  return [el("dt", {}, label), el("dd", {}, value)];
}

async function main() {
  const target = document.getElementById("tx")!;
  const hash = window.location.hash.replace(/^#/, "");
  if (!/^0x[0-9a-fA-F]{64}$/.test(hash)) {
    target.replaceChildren(el("div", { class: "alert alert-error" }, "No transaction hash in the link."));
    return;
  }
  try {
    const [receipt, head] = await Promise.all([
      rpc<Receipt | null>("eth_getTransactionReceipt", [hash]),
      rpc<string>("eth_blockNumber", []),
    ]);
    if (!receipt) {
      target.replaceChildren(
        el("div", { class: "alert alert-info" }, `Transaction ${hash} is not mined yet.`),
      );
      return;
    }
    const confirmations = BigInt(head) - BigInt(receipt.blockNumber) + 1n;
    const paid = receipt.logs.filter((log) => log.topics[0] === REFERRAL_PAID);
    const skipped = receipt.logs.filter((log) => log.topics[0] === REFERRAL_SKIPPED);
    const ok = receipt.status === "0x1";
    const dl = el(
      "dl",
      { class: "kv" },
      ...row("Hash", el("span", { class: "hash", "data-testid": "tx-hash" }, hash)),
      ...row(
        "Status",
        el("span", { class: `badge ${ok ? "badge-ok" : "badge-bad"}` }, ok ? "success" : "reverted"),
      ),
      ...row(
        "Block",
        `${BigInt(receipt.blockNumber)} (${confirmations} confirmation${confirmations === 1n ? "" : "s"})`,
      ),
      ...row("From (operator)", el("span", { class: "hash" }, receipt.from)),
      ...row("To (ReferralRewards)", el("span", { class: "hash" }, receipt.to)),
      ...row("Gas used", count(BigInt(receipt.gasUsed).toString())),
      ...row("Payouts", `${paid.length} paid, ${skipped.length} skipped as already paid`),
    );
    const table = el(
      "table",
      { class: "data" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", {}, "orderRef (keccak256)"),
          el("th", {}, "Recipient"),
          el("th", { class: "num" }, "Amount"),
        ),
      ),
      el(
        "tbody",
        {},
        ...paid.map((log) =>
          el(
            "tr",
            {},
            el("td", { class: "hash" }, log.topics[1] ?? ""),
            el("td", { class: "hash" }, `0x${(log.topics[2] ?? "").slice(-40)}`),
            el("td", { class: "num" }, tokensExact(BigInt(log.data.slice(0, 66)))),
          ),
        ),
      ),
    );
    target.replaceChildren(
      dl,
      el("h3", {}, "ReferralPaid events"),
      el("div", { class: "table-wrap" }, table),
    );
  } catch (error) {
    target.replaceChildren(
      el(
        "div",
        { class: "alert alert-error" },
        `Could not read the transaction: ${(error as Error).message}`,
      ),
    );
  }
}

void main();
