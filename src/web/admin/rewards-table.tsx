import { age, dateTime, humanStatus, money, shortHash, tokens } from "../lib/format";
import type { RewardView } from "../lib/types";
import { StatusBadge } from "../lib/ui";

/** An admin may decide these; a reward held for a dispute waits for the dispute's outcome. */
export function canDecide(reward: RewardView): boolean {
  if (reward.status === "held") return reward.holdReason !== "dispute";
  return ["pending_approval", "approved", "failed"].includes(reward.status);
}

const HOLD_REASON_LABELS: Record<string, string> = {
  dispute: "held for a chargeback — released by its outcome",
  amount_mismatch: "held: amount paid differs from the order total",
  review: "held for review",
};

/** The queue's rows: a reward per row, selectable when an admin may decide it. */
export function RewardsTable(props: {
  items: RewardView[];
  selected: Set<string>;
  busy: Set<string>;
  onSelect: (update: (current: Set<string>) => Set<string>) => void;
}) {
  const { items, selected, busy } = props;
  const reviewable = items.filter(canDecide);
  const allChosen = reviewable.length > 0 && reviewable.every((reward) => selected.has(reward.id));
  const toggle = (id: string) =>
    props.onSelect((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
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
                  props.onSelect(() =>
                    allChosen ? new Set() : new Set(reviewable.map((reward) => reward.id)),
                  )
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
  );
}
