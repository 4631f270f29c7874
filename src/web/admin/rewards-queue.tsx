import { useMemo, useState } from "preact/hooks";
import { REWARD_STATUSES } from "../../domain/enums";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import { humanStatus, sum, tokens } from "../lib/format";
import { ResourceStatus, useResource } from "../lib/resource";
import type { Page, RewardView } from "../lib/types";
import { Empty, type PushToast, Section, StatusFilter } from "../lib/ui";
import { type Decision, ReviewDialog } from "./review-dialog";
import { RewardsTable } from "./rewards-table";

interface DecisionResult {
  approved?: string[];
  rejected?: string[];
  unchanged?: string[];
  skipped: Array<{ id: string; reason: string }>;
}

function initialReferrer(): string {
  const parts = window.location.hash.replace(/^#\/?/, "").split("/");
  return parts[0] === "rewards" && parts[1] ? decodeURIComponent(parts[1]) : "";
}

/** The approval queue: filter rewards, select them, approve or reject them in one decision. */
export function RewardsQueue(props: { toast: PushToast }) {
  const [status, setStatus] = useState("pending_approval");
  const [referrer, setReferrer] = useState(initialReferrer);
  const [referrerInput, setReferrerInput] = useState(referrer);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState<Set<string>>(new Set());
  const [dialog, setDialog] = useState<Decision | null>(null);
  const [extra, setExtra] = useState<RewardView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const query = { status: status || undefined, referrer: referrer || undefined, limit: 50 };
  const list = useResource(
    async (signal) => {
      const page = await api<Page<RewardView>>("/v1/admin/rewards", { query, signal });
      setExtra([]);
      setCursor(page.nextCursor ?? null);
      setSelected(new Set());
      return page;
    },
    [status, referrer],
  );

  const items = useMemo(() => [...(list.data?.items ?? []), ...extra], [list.data, extra]);
  const chosen = items.filter((reward) => selected.has(reward.id));

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await api<Page<RewardView>>("/v1/admin/rewards", { query: { ...query, cursor } });
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

  /** Resolves true when the server answered (whatever it skipped), false when nothing was decided. */
  const decide = async (decision: Decision, note: string): Promise<boolean> => {
    const ids = chosen.map((reward) => reward.id);
    const before = new Map(chosen.map((reward) => [reward.id, reward.status]));
    const idSet = new Set(ids);
    const target = decision === "approve" ? "approved" : "rejected";
    const restore = (reward: RewardView) => ({ ...reward, status: before.get(reward.id) ?? reward.status });
    // Optimistic: the rows change now; whatever the server skips or refuses is put back.
    patch(idSet, (reward) => ({ ...reward, status: target }));
    setBusy(idSet);
    setSelected(new Set());
    setDialog(null);
    try {
      const result = await api<DecisionResult>(`/v1/admin/rewards/${decision}`, {
        method: "POST",
        body:
          decision === "approve"
            ? { ids, ...(note.trim() ? { note: note.trim() } : {}) }
            : { ids, reason: note.trim() },
        idempotencyKey: newIdempotencyKey(),
      });
      const skipped = new Map(result.skipped.map((item) => [item.id, item.reason]));
      if (skipped.size) {
        patch(new Set(skipped.keys()), restore);
        props.toast(
          "error",
          `${skipped.size} not ${target}: ${[...skipped].map(([id, reason]) => `#${id} (${humanStatus(reason)})`).join(", ")}`,
        );
      }
      const unchanged = result.unchanged?.length ?? 0;
      const done = ids.length - skipped.size - unchanged;
      if (done) props.toast("ok", `${done} reward${done === 1 ? "" : "s"} ${target}.`);
      if (unchanged) props.toast("ok", `${unchanged} already ${target}: nothing changed.`);
      return true;
    } catch (error) {
      patch(idSet, restore);
      props.toast("error", `Nothing was ${target}: ${(error as ApiError).message}`);
      return false;
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
      <ResourceStatus resource={list} what="The reward queue" />
      {list.data && items.length === 0 ? <Empty>No rewards match these filters.</Empty> : null}
      {items.length ? (
        <RewardsTable items={items} selected={selected} busy={busy} onSelect={setSelected} />
      ) : null}
      {cursor ? (
        <p>
          <button type="button" class="btn" onClick={loadMore}>
            Load more
          </button>
        </p>
      ) : null}
      <ReviewDialog decision={dialog} chosen={chosen} onClose={() => setDialog(null)} onDecide={decide} />
    </Section>
  );
}
