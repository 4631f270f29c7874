import { useState } from "preact/hooks";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import { count, dateTime, humanStatus, shortHash, sum, tokens } from "../lib/format";
import { ResourceStatus, useApi } from "../lib/resource";
import type { MintBatch, MintResult, Page, RewardView } from "../lib/types";
import { Empty, type PushToast, Section, StatusBadge } from "../lib/ui";
import { AwaitingApproval } from "./approvals";

/** The minting tab: mint the approved rewards now, and every batch with its transaction and gas. */
export function Minting(props: { toast: PushToast }) {
  const batches = useApi<{ items: MintBatch[] }>("/v1/admin/mint-batches", { limit: 100 });
  const approved = useApi<Page<RewardView>>("/v1/admin/rewards", { status: "approved", limit: 200 });
  const [minting, setMinting] = useState(false);
  const [last, setLast] = useState<MintResult | null>(null);
  const waiting = approved.data?.items ?? [];

  const mintNow = async () => {
    setMinting(true);
    try {
      const result = await api<MintResult>("/v1/admin/mint", {
        method: "POST",
        body: {},
        idempotencyKey: newIdempotencyKey(),
      });
      setLast(result);
      if (result.status === "empty") props.toast("ok", "Nothing to mint: no approved rewards are waiting.");
      else if (result.status === "failed")
        props.toast("error", `Mint batch failed: ${result.error ?? "see the batch list"}`);
      else
        props.toast("ok", `Batch #${result.batchId} ${result.status}: ${result.rewardIds.length} reward(s).`);
    } catch (error) {
      props.toast("error", `Mint failed: ${(error as ApiError).message}`);
    } finally {
      setMinting(false);
      batches.reload();
      approved.reload();
    }
  };

  return (
    <>
      <Section
        title="Mint now"
        id="mint"
        actions={
          <button
            type="button"
            class="btn btn-primary"
            disabled={minting}
            onClick={mintNow}
            data-testid="mint-now"
          >
            {minting ? "Minting…" : "Mint now"}
          </button>
        }
      >
        <p class="muted">
          {approved.data
            ? `${waiting.length}${approved.data.nextCursor ? "+" : ""} approved reward${waiting.length === 1 ? "" : "s"} waiting (${tokens(sum(waiting.map((reward) => reward.amountWei)))}). `
            : ""}
          The scheduled minter also runs every minute; one batch is one transaction to
          ReferralRewards.payReferralBatch.
        </p>
        {last ? (
          <div
            class={`alert ${last.status === "failed" ? "alert-error" : "alert-ok"}`}
            data-testid="mint-result"
          >
            Batch {last.batchId ? `#${last.batchId}` : "—"}: <strong>{humanStatus(last.status)}</strong>
            {last.rewardIds.length ? ` · ${last.rewardIds.length} reward(s)` : ""}
            {last.txHash ? (
              <>
                {" "}
                · tx{" "}
                <a class="hash" href={`/tx/#${last.txHash}`}>
                  {shortHash(last.txHash)}
                </a>
              </>
            ) : null}
            {last.error ? ` · ${last.error}` : ""}
          </div>
        ) : null}
      </Section>
      <AwaitingApproval toast={props.toast} onSigned={batches.reload} />
      <Section
        title="Mint batches"
        id="batches"
        actions={
          <button type="button" class="btn btn-ghost" onClick={batches.reload}>
            Refresh
          </button>
        }
      >
        <ResourceStatus resource={batches} what="Mint batches" />
        {batches.data && batches.data.items.length === 0 ? (
          <Empty>No batch has been minted yet.</Empty>
        ) : null}
        {batches.data?.items.length ? (
          <div class="table-wrap">
            <table class="data" data-testid="batches-table">
              <thead>
                <tr>
                  <th>Batch</th>
                  <th>Status</th>
                  <th class="num">Rewards</th>
                  <th class="num">Total</th>
                  <th>Transaction</th>
                  <th class="num">Block</th>
                  <th class="num">Gas used</th>
                  <th class="num">Gas / reward</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {batches.data.items.map((batch) => (
                  <tr key={batch.id}>
                    <td class="mono">#{batch.id}</td>
                    <td>
                      <StatusBadge status={batch.status} />
                      {batch.error ? <div class="sub">{batch.error}</div> : null}
                    </td>
                    <td class="num">{batch.rewardCount}</td>
                    <td class="num">{batch.totalWei ? tokens(batch.totalWei) : "—"}</td>
                    <td>
                      {batch.txHash ? (
                        <a class="hash" href={`/tx/#${batch.txHash}`} title={batch.txHash}>
                          {shortHash(batch.txHash)}
                        </a>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td class="num">{batch.blockNumber ?? "—"}</td>
                    <td class="num">{batch.gasUsed ? count(batch.gasUsed) : "—"}</td>
                    <td class="num">
                      {batch.gasUsed && batch.rewardCount
                        ? count((BigInt(batch.gasUsed) / BigInt(batch.rewardCount)).toString())
                        : "—"}
                    </td>
                    <td class="nowrap">{dateTime(batch.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
    </>
  );
}
