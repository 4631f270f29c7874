import { useState } from "preact/hooks";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import { dateTime, humanStatus, shortHash, sum, tokens } from "../lib/format";
import { ResourceStatus, useApi } from "../lib/resource";
import type { MintBatchAwaitingApproval } from "../lib/types";
import { type PushToast, Section } from "../lib/ui";

/** An EIP-1193 wallet (MetaMask, Rabby, a Safe through WalletConnect's injected provider). */
interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

function injectedWallet(): Eip1193 | undefined {
  return (globalThis as { ethereum?: Eip1193 }).ethereum;
}

/**
 * Wallet mode (APPROVER_KEYS_MODE=wallet): the batches the minter sized and left awaiting an approver's
 * signature. "Sign with wallet" asks the browser wallet to sign the batch's EIP-712 typed data
 * (`eth_signTypedData_v4`: every recipient and amount shown) and posts the signature; the server
 * verifies it against APPROVER_ROLE and the minter sends exactly that batch on its next pass.
 */
export function AwaitingApproval(props: { toast: PushToast; onSigned?: () => void }) {
  const batches = useApi<{ items: MintBatchAwaitingApproval[] }>("/v1/admin/mint-batches/awaiting-approval");
  const [busy, setBusy] = useState<string | null>(null);
  const items = batches.data?.items ?? [];
  if (!batches.error && items.length === 0) return null;

  const sign = async (batch: MintBatchAwaitingApproval) => {
    const wallet = injectedWallet();
    if (!wallet) {
      props.toast("error", "No browser wallet found: install or unlock an approver's wallet to sign.");
      return;
    }
    setBusy(batch.id);
    try {
      const [account] = (await wallet.request({ method: "eth_requestAccounts" })) as string[];
      if (!account) throw new Error("the wallet gave no account");
      const signature = (await wallet.request({
        method: "eth_signTypedData_v4",
        params: [account, JSON.stringify(batch.typedData)],
      })) as string;
      await api(`/v1/admin/mint-batches/${batch.id}/approval`, {
        method: "POST",
        body: { signature },
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast("ok", `Batch #${batch.id} approved by ${shortHash(account)}; the minter sends it next.`);
      props.onSigned?.();
    } catch (error) {
      props.toast("error", `Approval of batch #${batch.id} failed: ${(error as ApiError).message}`);
    } finally {
      setBusy(null);
      batches.reload();
    }
  };

  return (
    <Section title="Awaiting approval" id="awaiting-approval">
      <ResourceStatus resource={batches} what="Batches awaiting approval" />
      <p class="muted">
        Approvals are on and the service holds no approver key: an address with APPROVER_ROLE signs each batch
        in its wallet (EIP-712, every recipient and amount shown) before it is sent.
      </p>
      <div class="table-wrap">
        <table class="data" data-testid="awaiting-approval-table">
          <thead>
            <tr>
              <th>Batch</th>
              <th>Status</th>
              <th class="num">Payouts</th>
              <th class="num">Total</th>
              <th>Sign before</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((batch) => (
              <tr key={batch.id}>
                <td class="mono">#{batch.id}</td>
                <td>
                  {humanStatus(batch.status)}
                  {batch.approver ? <div class="sub">by {shortHash(batch.approver)}</div> : null}
                </td>
                <td class="num">{batch.typedData.message.payouts.length}</td>
                <td class="num">
                  {tokens(sum(batch.typedData.message.payouts.map((payout) => payout.amount)))}
                </td>
                <td class="nowrap">{dateTime(batch.deadline)}</td>
                <td>
                  {batch.status === "awaiting_approval" ? (
                    <button
                      type="button"
                      class="btn btn-primary"
                      disabled={busy !== null}
                      onClick={() => sign(batch)}
                      data-testid={`sign-batch-${batch.id}`}
                    >
                      {busy === batch.id ? "Waiting for the wallet…" : "Sign with wallet"}
                    </button>
                  ) : (
                    "signed · sending"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}
