import { render } from "preact";
import { useMemo, useState } from "preact/hooks";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import { age, count, dateTime, humanStatus, money, shortHash, sum, tokens } from "../lib/format";
import { Report } from "../lib/report";
import type { AuditEntry, MintBatch, MintResult, Page, RewardView, Settlement } from "../lib/types";
import {
  AuthGate,
  Dialog,
  Empty,
  ErrorNote,
  Loading,
  Section,
  Shell,
  Stat,
  StatusBadge,
  StatusFilter,
  Toasts,
  useAsync,
  useHashTab,
  useToasts,
} from "../lib/ui";
import "../lib/styles.css";

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "rewards", label: "Approval queue" },
  { id: "minting", label: "Minting" },
  { id: "settlements", label: "Settlements & payouts" },
  { id: "reconcile", label: "Reconciliation" },
  { id: "audit", label: "Audit log" },
];

const REWARD_STATUSES = [
  "pending_approval",
  "approved",
  "minting",
  "minted",
  "held",
  "rejected",
  "cancelled",
  "failed",
];

type Toast = ReturnType<typeof useToasts>["push"];

function App() {
  return (
    <AuthGate
      surface="admin"
      title="Admin console"
      credential="Admin API key"
      placeholder="tw_…"
      hint={
        <>
          Create one with <code>twinrail keys create --role admin</code>. In demo mode <code>npm start</code>{" "}
          prints a ready-to-click link.
        </>
      }
    >
      {(signOut) => <Console signOut={signOut} />}
    </AuthGate>
  );
}

function Console(props: { signOut: () => void }) {
  const tab = useHashTab(TABS);
  const toasts = useToasts();
  return (
    <Shell surface="Admin" tabs={TABS} active={tab} onSignOut={props.signOut}>
      {tab === "overview" ? <Overview /> : null}
      {tab === "rewards" ? <RewardsQueue toast={toasts.push} /> : null}
      {tab === "minting" ? <Minting toast={toasts.push} /> : null}
      {tab === "settlements" ? <Settlements toast={toasts.push} /> : null}
      {tab === "reconcile" ? <Reconcile /> : null}
      {tab === "audit" ? <Audit /> : null}
      <Toasts items={toasts.items} onDismiss={toasts.dismiss} />
    </Shell>
  );
}

/* ---------------- overview ---------------- */

interface Stats {
  funnel?: Record<string, number | string> | Array<{ stage: string; count: number | string }>;
  totals?: Record<string, unknown>;
  rails?: Record<string, unknown>;
  topReferrers?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

const FUNNEL_STAGES = ["visits", "signups", "orders", "paidOrders", "rewards", "minted"] as const;
const STAGE_LABEL: Record<string, string> = { paidOrders: "paid orders" };

function funnelOf(stats: Stats): Array<{ stage: string; value: number }> {
  const funnel = stats.funnel;
  if (Array.isArray(funnel)) return funnel.map((item) => ({ stage: item.stage, value: Number(item.count) }));
  if (funnel && typeof funnel === "object") {
    return FUNNEL_STAGES.filter((stage) => stage in funnel).map((stage) => {
      const raw = (funnel as Record<string, unknown>)[stage];
      const value = typeof raw === "object" && raw !== null ? (raw as { count?: unknown }).count : raw;
      return { stage, value: Number(value ?? 0) };
    });
  }
  return [];
}

function Overview() {
  const stats = useAsync(() => api<Stats>("/v1/admin/stats"), []);
  const pending = useAsync(
    () => api<Page<RewardView>>("/v1/admin/rewards", { query: { status: "pending_approval", limit: 200 } }),
    [],
  );
  const batches = useAsync(
    () => api<{ items: MintBatch[] }>("/v1/admin/mint-batches", { query: { limit: 200 } }),
    [],
  );
  const pendingItems = pending.data?.items ?? [];
  const flagged = pendingItems.filter((reward) => (reward.fraudSignals ?? []).length > 0).length;
  const confirmed = (batches.data?.items ?? []).filter((batch) => batch.status === "confirmed");
  return (
    <>
      <div class="stats">
        <Stat
          label="Awaiting approval"
          value={pending.data ? count(pendingItems.length) + (pending.data.nextCursor ? "+" : "") : "…"}
          hint={flagged ? `${flagged} with fraud signals` : "none flagged"}
          testid="stat-pending"
        />
        <Stat
          label="Pending value"
          value={pending.data ? tokens(sum(pendingItems.map((reward) => reward.amountWei))) : "…"}
          hint="token rewards awaiting review"
        />
        <Stat
          label="Confirmed batches"
          value={batches.data ? count(confirmed.length) : "…"}
          hint="mint transactions"
        />
        <Stat
          label="Minted via batches"
          value={batches.data ? tokens(sum(confirmed.map((batch) => batch.totalWei))) : "…"}
        />
      </div>
      <div class="grid-2">
        <Section title="Funnel" id="funnel">
          {stats.error ? (
            <ErrorNote error={stats.error} what="The funnel (GET /v1/admin/stats)" />
          ) : !stats.data ? (
            <Loading />
          ) : (
            <Funnel stages={funnelOf(stats.data)} />
          )}
        </Section>
        <Section title="Top referrers" id="top-referrers">
          {stats.error ? (
            <ErrorNote error={stats.error} what="Top referrers (GET /v1/admin/stats)" />
          ) : !stats.data ? (
            <Loading />
          ) : (
            <TopReferrers rows={stats.data.topReferrers ?? []} />
          )}
        </Section>
      </div>
      {stats.data?.rails ? <Rails rails={stats.data.rails as RailTotals} /> : null}
    </>
  );
}

interface RailTotals {
  fiat?: Array<{ currency: string; orders: number; gross: string; referralCommission: string }>;
  token?: {
    mintedWei: string;
    byStatus?: Array<{ paymentRail: string; status: string; rewards: number; amountWei: string }>;
  };
}

function Rails(props: { rails: RailTotals }) {
  const fiat = props.rails.fiat ?? [];
  const byStatus = props.rails.token?.byStatus ?? [];
  return (
    <div class="grid-2">
      <Section title="Rail A · vendor-funded commissions (fiat)" id="rail-fiat">
        {fiat.length === 0 ? (
          <Empty>No paid referred orders in this period.</Empty>
        ) : (
          <table class="data">
            <thead>
              <tr>
                <th>Currency</th>
                <th class="num">Orders</th>
                <th class="num">Gross</th>
                <th class="num">Referral commission</th>
              </tr>
            </thead>
            <tbody>
              {fiat.map((row) => (
                <tr key={row.currency}>
                  <td>{row.currency}</td>
                  <td class="num">{count(row.orders)}</td>
                  <td class="num">{money(row.gross, row.currency)}</td>
                  <td class="num">{money(row.referralCommission, row.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Rail B · platform-funded token rewards" id="rail-token">
        <p>
          Minted in this period: <strong>{tokens(props.rails.token?.mintedWei ?? "0")}</strong>
        </p>
        {byStatus.length ? (
          <table class="data">
            <thead>
              <tr>
                <th>Payment</th>
                <th>Status</th>
                <th class="num">Rewards</th>
                <th class="num">Amount</th>
              </tr>
            </thead>
            <tbody>
              {byStatus.map((row) => (
                <tr key={`${row.paymentRail}-${row.status}`}>
                  <td>{row.paymentRail}</td>
                  <td>
                    <StatusBadge status={row.status} />
                  </td>
                  <td class="num">{count(row.rewards)}</td>
                  <td class="num">{tokens(row.amountWei)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
    </div>
  );
}

function Funnel(props: { stages: Array<{ stage: string; value: number }> }) {
  const max = Math.max(1, ...props.stages.map((stage) => stage.value));
  if (props.stages.length === 0) return <Empty>No funnel data in this period.</Empty>;
  return (
    <ul class="funnel" aria-label="Funnel from visits to minted rewards">
      {props.stages.map((stage, index) => {
        const previous = index > 0 ? props.stages[index - 1]?.value : undefined;
        const rate = previous ? ` · ${((stage.value / previous) * 100).toFixed(1)}%` : "";
        return (
          <li class="funnel-row" key={stage.stage}>
            <span class="funnel-label">{STAGE_LABEL[stage.stage] ?? humanStatus(stage.stage)}</span>
            <div class="funnel-track">
              <div class="funnel-bar" style={{ width: `${(stage.value / max) * 100}%` }} />
            </div>
            <span class="funnel-value">
              {count(stage.value)}
              <span class="sub">{rate}</span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}

function TopReferrers(props: { rows: Array<Record<string, unknown>> }) {
  if (props.rows.length === 0) return <Empty>No referrer has converted yet.</Empty>;
  return (
    <div class="table-wrap">
      <table class="data">
        <thead>
          <tr>
            <th>Referrer</th>
            <th class="num">Visits</th>
            <th class="num">Signups</th>
            <th class="num">Orders</th>
            <th class="num">Rewards</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => {
            const id = String(row.memberId ?? row.referrer ?? "");
            return (
              <tr key={id}>
                <td>
                  <a href={`#/rewards/${encodeURIComponent(id)}`}>{String(row.displayName ?? id)}</a>
                  <div class="sub">
                    {id}
                    {row.code ? ` · ${String(row.code)}` : ""}
                  </div>
                </td>
                <td class="num">{count((row.visits as number) ?? null)}</td>
                <td class="num">{count((row.signups as number) ?? null)}</td>
                <td class="num">{count((row.orders ?? row.conversions) as number)}</td>
                <td class="num">{tokens(String(row.rewardsWei ?? row.mintedWei ?? "0"))}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/* ---------------- approval queue ---------------- */

function initialReferrer(): string {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/");
  return parts[0] === "rewards" && parts[1] ? decodeURIComponent(parts[1]) : "";
}

/** An admin may decide these; a reward held for a dispute waits for the dispute's outcome. */
function canDecide(reward: RewardView): boolean {
  if (reward.status === "held") return reward.holdReason !== "dispute";
  return ["pending_approval", "approved", "failed"].includes(reward.status);
}

const HOLD_REASON_LABELS: Record<string, string> = {
  dispute: "held for a chargeback — released by its outcome",
  amount_mismatch: "held: amount paid differs from the order total",
  review: "held for review",
};

function RewardsQueue(props: { toast: Toast }) {
  const [status, setStatus] = useState("pending_approval");
  const [referrer, setReferrer] = useState(initialReferrer);
  const [referrerInput, setReferrerInput] = useState(referrer);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<"approve" | "reject" | null>(null);
  const [note, setNote] = useState("");
  const [extra, setExtra] = useState<RewardView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useAsync(async () => {
    const page = await api<Page<RewardView>>("/v1/admin/rewards", {
      query: { status: status || undefined, referrer: referrer || undefined, limit: 50 },
    });
    setExtra([]);
    setCursor(page.nextCursor ?? null);
    setSelected(new Set());
    return page;
  }, [status, referrer]);

  const items = useMemo(() => [...(list.data?.items ?? []), ...extra], [list.data, extra]);
  const reviewable = items.filter(canDecide);
  const chosen = items.filter((reward) => selected.has(reward.id));
  const allChosen = reviewable.length > 0 && reviewable.every((reward) => selected.has(reward.id));

  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await api<Page<RewardView>>("/v1/admin/rewards", {
        query: { status: status || undefined, referrer: referrer || undefined, limit: 50, cursor },
      });
      setExtra((current) => [...current, ...page.items]);
      setCursor(page.nextCursor ?? null);
    } catch (error) {
      props.toast("error", (error as ApiError).message);
    }
  };

  const patch = (ids: Set<string>, update: (reward: RewardView) => RewardView) => {
    list.setData((page) =>
      page ? { ...page, items: page.items.map((r) => (ids.has(r.id) ? update(r) : r)) } : page,
    );
    setExtra((current) => current.map((r) => (ids.has(r.id) ? update(r) : r)));
  };

  const decide = async (decision: "approve" | "reject") => {
    const ids = chosen.map((reward) => reward.id);
    const before = new Map(chosen.map((reward) => [reward.id, reward.status]));
    const idSet = new Set(ids);
    const target = decision === "approve" ? "approved" : "rejected";
    // Optimistic: the rows change now; whatever the server skips or refuses is put back.
    patch(idSet, (reward) => ({ ...reward, status: target }));
    setBusy(idSet);
    setSelected(new Set());
    setDialog(null);
    try {
      const result = await api<{
        approved?: string[];
        rejected?: string[];
        unchanged?: string[];
        skipped: Array<{ id: string; reason: string }>;
      }>(`/v1/admin/rewards/${decision}`, {
        method: "POST",
        body:
          decision === "approve"
            ? { ids, ...(note.trim() ? { note: note.trim() } : {}) }
            : { ids, reason: note.trim() },
        idempotencyKey: newIdempotencyKey(),
      });
      const skipped = new Map(result.skipped.map((item) => [item.id, item.reason]));
      if (skipped.size) {
        patch(new Set(skipped.keys()), (reward) => ({
          ...reward,
          status: before.get(reward.id) ?? reward.status,
        }));
        props.toast(
          "error",
          `${skipped.size} not ${target}: ${[...skipped].map(([id, reason]) => `#${id} (${humanStatus(reason)})`).join(", ")}`,
        );
      }
      const unchanged = result.unchanged?.length ?? 0;
      const done = ids.length - skipped.size - unchanged;
      if (done) props.toast("ok", `${done} reward${done === 1 ? "" : "s"} ${target}.`);
      if (unchanged) props.toast("ok", `${unchanged} already ${target}: nothing changed.`);
      setNote("");
    } catch (error) {
      patch(idSet, (reward) => ({ ...reward, status: before.get(reward.id) ?? reward.status }));
      props.toast("error", `Nothing was ${target}: ${(error as ApiError).message}`);
    } finally {
      setBusy(new Set());
    }
  };

  const chosenWei = sum(chosen.map((reward) => reward.amountWei));

  return (
    <Section
      title="Approval queue"
      id="queue"
      actions={
        <>
          <span class="muted small" aria-live="polite">
            {chosen.length ? `${chosen.length} selected · ${tokens(chosenWei)}` : "Select rewards to review"}
          </span>
          <button
            type="button"
            class="btn btn-ok"
            disabled={!chosen.length}
            onClick={() => setDialog("approve")}
          >
            Approve…
          </button>
          <button
            type="button"
            class="btn btn-bad"
            disabled={!chosen.length}
            onClick={() => setDialog("reject")}
          >
            Reject…
          </button>
        </>
      }
    >
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          setReferrer(referrerInput.trim());
        }}
      >
        <StatusFilter id="status-filter" value={status} statuses={REWARD_STATUSES} onChange={setStatus} />
        <div class="field">
          <label for="referrer-filter">Referrer member id</label>
          <input
            id="referrer-filter"
            placeholder="e.g. m_anna"
            value={referrerInput}
            onInput={(event) => setReferrerInput((event.target as HTMLInputElement).value)}
          />
        </div>
        <button type="submit" class="btn">
          Apply
        </button>
        {referrer ? (
          <button
            type="button"
            class="btn btn-ghost"
            onClick={() => {
              setReferrer("");
              setReferrerInput("");
            }}
          >
            Clear referrer
          </button>
        ) : null}
        <button type="button" class="btn btn-ghost" onClick={list.reload}>
          Refresh
        </button>
      </form>
      {list.error ? <ErrorNote error={list.error} what="The reward queue" /> : null}
      {!list.data && !list.error ? <Loading /> : null}
      {list.data && items.length === 0 ? <Empty>No rewards match these filters.</Empty> : null}
      {items.length ? (
        <div class="table-wrap">
          <table class="data" data-testid="rewards-table">
            <thead>
              <tr>
                <th>
                  <input
                    type="checkbox"
                    aria-label="Select all reviewable rewards"
                    checked={allChosen}
                    disabled={!reviewable.length}
                    onChange={() =>
                      setSelected(allChosen ? new Set() : new Set(reviewable.map((reward) => reward.id)))
                    }
                  />
                </th>
                <th>Reward</th>
                <th>Referrer</th>
                <th>Order</th>
                <th class="num">Commission basis</th>
                <th class="num">Reward</th>
                <th>Age</th>
                <th>Fraud signals</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {items.map((reward) => {
                const canReview = canDecide(reward);
                const signals = reward.fraudSignals ?? [];
                return (
                  <tr
                    key={reward.id}
                    data-reward-id={reward.id}
                    data-order={reward.orderReference}
                    class={[
                      selected.has(reward.id) ? "selected" : "",
                      busy.has(reward.id) ? "pending-op" : "",
                    ].join(" ")}
                  >
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select reward ${reward.id} for order ${reward.orderReference}`}
                        checked={selected.has(reward.id)}
                        disabled={!canReview || busy.has(reward.id)}
                        onChange={() => toggle(reward.id)}
                      />
                    </td>
                    <td class="mono">#{reward.id}</td>
                    <td>
                      {reward.referrer?.displayName ?? reward.referrer?.memberId ?? "—"}
                      <div class="sub">
                        {reward.referrer?.memberId}
                        {reward.referrer?.wallet ? ` · ${shortHash(reward.referrer.wallet)}` : " · no wallet"}
                      </div>
                    </td>
                    <td>
                      <span class="mono">{reward.orderReference}</span>
                      <div class="sub">
                        buyer {reward.buyerMemberId ?? "guest"} · {reward.paymentRail}
                      </div>
                    </td>
                    <td class="num">{money(reward.fiatBasis, reward.currency)}</td>
                    <td class="num" title={`${reward.amountWei} wei`}>
                      {tokens(reward.amountWei)}
                    </td>
                    <td class="nowrap" title={dateTime(reward.createdAt)}>
                      {age(reward.ageSeconds)}
                    </td>
                    <td>
                      {signals.length ? (
                        signals.map((signal) => (
                          <span class="chip" key={signal.code} title={signal.detail}>
                            ⚠ {humanStatus(signal.code)}
                          </span>
                        ))
                      ) : (
                        <span class="chip-none">none</span>
                      )}
                    </td>
                    <td>
                      <StatusBadge status={reward.status} />
                      {reward.status === "held" && reward.holdReason ? (
                        <div class="sub" data-testid="hold-reason" data-hold-reason={reward.holdReason}>
                          {HOLD_REASON_LABELS[reward.holdReason] ?? `held: ${humanStatus(reward.holdReason)}`}
                        </div>
                      ) : null}
                      {reward.txHash ? <div class="sub hash">{shortHash(reward.txHash)}</div> : null}
                      {reward.failureReason ? <div class="sub">{reward.failureReason}</div> : null}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {cursor ? (
        <p>
          <button type="button" class="btn" onClick={loadMore}>
            Load more
          </button>
        </p>
      ) : null}
      <Dialog
        open={dialog !== null}
        title={
          dialog === "approve"
            ? `Approve ${chosen.length} reward${chosen.length === 1 ? "" : "s"}?`
            : `Reject ${chosen.length} reward${chosen.length === 1 ? "" : "s"}?`
        }
        onClose={() => setDialog(null)}
      >
        <form
          onSubmit={(event) => {
            event.preventDefault();
            if (dialog) void decide(dialog);
          }}
        >
          <p>
            {dialog === "approve"
              ? "Approved rewards are minted in the next batch (or now, from Minting)."
              : "Rejected rewards are never minted. The reason is kept in the audit log."}{" "}
            Total <strong>{tokens(chosenWei)}</strong> for {chosen.length} order
            {chosen.length === 1 ? "" : "s"}.
            {chosen.some((reward) => (reward.fraudSignals ?? []).length) ? (
              <span class="alert alert-warn" style={{ display: "block", marginTop: "0.5rem" }}>
                Some selected rewards carry fraud signals.
              </span>
            ) : null}
          </p>
          <label for="review-note">{dialog === "approve" ? "Note (optional)" : "Reason (required)"}</label>
          <textarea
            id="review-note"
            value={note}
            required={dialog === "reject"}
            onInput={(event) => setNote((event.target as HTMLTextAreaElement).value)}
          />
          <div class="dialog-actions">
            <button type="button" class="btn" onClick={() => setDialog(null)}>
              Cancel
            </button>
            <button
              type="submit"
              class={dialog === "approve" ? "btn btn-ok" : "btn btn-danger"}
              disabled={dialog === "reject" && !note.trim()}
            >
              {dialog === "approve" ? "Approve" : "Reject"} {chosen.length}
            </button>
          </div>
        </form>
      </Dialog>
    </Section>
  );
}

/* ---------------- minting ---------------- */

function Minting(props: { toast: Toast }) {
  const batches = useAsync(
    () => api<{ items: MintBatch[] }>("/v1/admin/mint-batches", { query: { limit: 100 } }),
    [],
  );
  const approved = useAsync(
    () => api<Page<RewardView>>("/v1/admin/rewards", { query: { status: "approved", limit: 200 } }),
    [],
  );
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
      <Section
        title="Mint batches"
        id="batches"
        actions={
          <button type="button" class="btn btn-ghost" onClick={batches.reload}>
            Refresh
          </button>
        }
      >
        {batches.error ? <ErrorNote error={batches.error} what="Mint batches" /> : null}
        {!batches.data && !batches.error ? <Loading /> : null}
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

/* ---------------- settlements & payouts ---------------- */

const SETTLEMENT_STATUSES = ["pending", "due", "in_payout", "paid", "held", "cancelled"];

interface Payout {
  payoutId: string;
  vendorId: string;
  currency: string;
  amount: string;
  adjustmentTotal: string;
  settlementCount: number;
  status: string;
  createdAt: string;
}

function Settlements(props: { toast: Toast }) {
  const [vendorId, setVendorId] = useState("");
  const [status, setStatus] = useState("");
  const list = useAsync(
    () =>
      api<{ items: Settlement[] }>("/v1/admin/settlements", {
        query: { vendorId: vendorId || undefined, status: status || undefined, limit: 500 },
      }),
    [vendorId, status],
  );
  const [payoutError, setPayoutError] = useState<ApiError | null>(null);
  const [running, setRunning] = useState(false);
  const items = list.data?.items ?? [];
  const vendors = [...new Set(items.map((item) => item.vendorId))].sort();
  const currency = items[0]?.currency ?? "UAH";
  const oneCurrency = items.every((item) => item.currency === currency);

  const payouts = useAsync(
    () =>
      api<{ items: Payout[] }>("/v1/admin/payouts", {
        query: { vendorId: vendorId || undefined, limit: 200 },
      }),
    [vendorId],
  );

  const markPaid = async (payoutId: string) => {
    try {
      await api<unknown>(`/v1/admin/payouts/${payoutId}/paid`, {
        method: "POST",
        body: {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast("ok", `Payout #${payoutId} marked paid.`);
      payouts.reload();
      list.reload();
    } catch (error) {
      props.toast("error", (error as ApiError).message);
    }
  };

  const createPayouts = async () => {
    setRunning(true);
    setPayoutError(null);
    try {
      const result = await api<{ payouts: unknown[]; skipped: unknown[] }>("/v1/admin/payouts", {
        method: "POST",
        body: vendorId ? { vendorId } : {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast(
        "ok",
        result.payouts.length
          ? `${result.payouts.length} payout batch${result.payouts.length === 1 ? "" : "es"} created from due settlements.`
          : "Nothing was due: no payout batch created.",
      );
      list.reload();
      payouts.reload();
    } catch (error) {
      setPayoutError(error as ApiError);
    } finally {
      setRunning(false);
    }
  };

  return (
    <>
      <Section
        title="Settlements"
        id="settlements"
        actions={
          <button type="button" class="btn btn-primary" onClick={createPayouts} disabled={running}>
            {running ? "Creating…" : `Create payouts${vendorId ? ` for ${vendorId}` : ""}`}
          </button>
        }
      >
        <div class="filters">
          <div class="field">
            <label for="settlement-vendor">Vendor</label>
            <select
              id="settlement-vendor"
              value={vendorId}
              onChange={(e) => setVendorId((e.target as HTMLSelectElement).value)}
            >
              <option value="">All vendors</option>
              {[...new Set([...vendors, vendorId].filter(Boolean))].map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </div>
          <StatusFilter
            id="settlement-status"
            value={status}
            statuses={SETTLEMENT_STATUSES}
            onChange={setStatus}
          />
        </div>
        {payoutError ? (
          <ErrorNote error={payoutError} what="Creating payouts (POST /v1/admin/payouts)" />
        ) : null}
        {list.error ? <ErrorNote error={list.error} what="Settlements" /> : null}
        {!list.data && !list.error ? <Loading /> : null}
        {list.data && items.length === 0 ? <Empty>No settlements match.</Empty> : null}
        {items.length ? (
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Order</th>
                  <th>Vendor</th>
                  <th class="num">Gross</th>
                  <th class="num">Platform fee</th>
                  <th class="num">Referral commission</th>
                  <th class="num">Net</th>
                  <th>Status</th>
                  <th>Scheduled</th>
                  <th>Payout</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr key={item.id}>
                    <td class="mono">{item.orderReference}</td>
                    <td>{item.vendorId}</td>
                    <td class="num">{money(item.gross, item.currency)}</td>
                    <td class="num">{money(item.platformFee, item.currency)}</td>
                    <td class="num">{money(item.referralCommission, item.currency)}</td>
                    <td class="num">{money(item.net, item.currency)}</td>
                    <td>
                      <StatusBadge status={item.status} />
                    </td>
                    <td class="nowrap">{dateTime(item.scheduledFor)}</td>
                    <td class="mono">{item.payoutId ? `#${item.payoutId}` : "—"}</td>
                  </tr>
                ))}
              </tbody>
              {oneCurrency ? (
                <tfoot>
                  <tr>
                    <td colSpan={2}>Total ({items.length})</td>
                    <td class="num">{money(sum(items.map((i) => i.gross)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.platformFee)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.referralCommission)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.net)), currency)}</td>
                    <td colSpan={3} />
                  </tr>
                </tfoot>
              ) : null}
            </table>
          </div>
        ) : null}
      </Section>
      <Section title="Payout batches" id="payouts">
        {payouts.error ? <ErrorNote error={payouts.error} what="Payout batches" /> : null}
        {(payouts.data?.items ?? []).length === 0 ? (
          <Empty>No payout batch yet. Due settlements become payout batches with “Create payouts”.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Payout</th>
                  <th>Vendor</th>
                  <th class="num">Settlements</th>
                  <th class="num">Refund adjustments</th>
                  <th class="num">Amount</th>
                  <th>Status</th>
                  <th>Created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {(payouts.data?.items ?? []).map((payout) => (
                  <tr key={payout.payoutId}>
                    <td class="mono">#{payout.payoutId}</td>
                    <td>{payout.vendorId}</td>
                    <td class="num">{payout.settlementCount}</td>
                    <td class="num">{money(payout.adjustmentTotal, payout.currency)}</td>
                    <td class="num">{money(payout.amount, payout.currency)}</td>
                    <td>
                      <StatusBadge status={payout.status} />
                    </td>
                    <td>{payout.createdAt.slice(0, 10)}</td>
                    <td>
                      {payout.status === "created" ? (
                        <button type="button" class="btn" onClick={() => markPaid(payout.payoutId)}>
                          Mark paid
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </>
  );
}

/* ---------------- reconciliation ---------------- */

function Reconcile() {
  const report = useAsync(() => api<Record<string, unknown>>("/v1/admin/reconcile"), []);
  const ok = report.data ? (report.data.ok as boolean | undefined) : undefined;
  return (
    <Section
      title="Reconciliation"
      id="reconcile"
      actions={
        <button type="button" class="btn" onClick={report.reload}>
          Run again
        </button>
      }
    >
      <p class="muted">
        Journal balance per asset, fiat rail ↔ token rail agreement per order, and database ↔ chain
        (ReferralPaid logs vs minted rows).
      </p>
      {report.error ? (
        <ErrorNote error={report.error} what="The reconciliation report (GET /v1/admin/reconcile)" />
      ) : null}
      {!report.data && !report.error ? <Loading /> : null}
      {report.data ? (
        <>
          {ok !== undefined ? (
            <div class={`alert ${ok ? "alert-ok" : "alert-error"}`} data-testid="reconcile-verdict">
              <strong>{ok ? "Everything reconciles." : "Discrepancies found — see below."}</strong>
            </div>
          ) : null}
          <Report value={report.data} />
        </>
      ) : null}
    </Section>
  );
}

/* ---------------- audit ---------------- */

function Audit() {
  const log = useAsync(() => api<{ items: AuditEntry[] }>("/v1/admin/audit", { query: { limit: 200 } }), []);
  const [filter, setFilter] = useState("");
  const items = (log.data?.items ?? []).filter((entry) =>
    filter
      ? `${entry.actor} ${entry.action} ${entry.subject.type}:${entry.subject.id}`
          .toLowerCase()
          .includes(filter.toLowerCase())
      : true,
  );
  return (
    <Section
      title="Audit log"
      id="audit"
      actions={
        <>
          <label class="visually-hidden" for="audit-filter">
            Filter audit log
          </label>
          <input
            id="audit-filter"
            placeholder="Filter: actor, action, subject"
            value={filter}
            onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
          />
          <button type="button" class="btn btn-ghost" onClick={log.reload}>
            Refresh
          </button>
        </>
      }
    >
      {log.error ? <ErrorNote error={log.error} what="The audit log" /> : null}
      {!log.data && !log.error ? <Loading /> : null}
      {log.data && items.length === 0 ? <Empty>No entries.</Empty> : null}
      {items.length ? (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Subject</th>
                <th>Change</th>
              </tr>
            </thead>
            <tbody>
              {items.map((entry) => (
                <tr key={entry.id}>
                  <td class="nowrap">{dateTime(entry.at)}</td>
                  <td class="mono">{entry.actor}</td>
                  <td>
                    <span class="mono action">{entry.action}</span>
                  </td>
                  <td class="mono">
                    {entry.subject.type}:{entry.subject.id}
                  </td>
                  <td class="sub mono">{summarize(entry.after)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Section>
  );
}

function summarize(value: unknown): string {
  if (value === null || value === undefined) return "—";
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

render(<App />, document.getElementById("app")!);
