import { money } from "../lib/format";
import type { Resource } from "../lib/resource";
import type { Payout } from "../lib/types";
import { Empty, ErrorNote, Section, StatusBadge } from "../lib/ui";

export type { Payout };

/** Payout batches made from due settlements; a created one can be marked paid. */
export function PayoutBatches(props: {
  payouts: Resource<{ items: Payout[] }>;
  onMarkPaid: (payoutId: string) => void;
}) {
  const { payouts } = props;
  return (
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
                      <button type="button" class="btn" onClick={() => props.onMarkPaid(payout.payoutId)}>
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
  );
}
