import { count, money, sum, tokens } from "../lib/format";
import { useApi } from "../lib/resource";
import type { AdminStats, MintBatch, Page, RewardView } from "../lib/types";
import { Empty, ErrorNote, Loading, Section, Stat, StatusBadge } from "../lib/ui";
import { Funnel, funnelOf, type Stats, TopReferrers } from "./funnel";

/** The overview tab: what waits for review, what was minted, the funnel and both rails' totals. */
export function Overview() {
  const stats = useApi<Stats>("/v1/admin/stats");
  const pending = useApi<Page<RewardView>>("/v1/admin/rewards", { status: "pending_approval", limit: 200 });
  const batches = useApi<{ items: MintBatch[] }>("/v1/admin/mint-batches", { limit: 200 });
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

/** `GET /v1/admin/stats` rails. */
type RailTotals = AdminStats["rails"];

function Rails(props: { rails: RailTotals }) {
  const fiat = props.rails.fiat ?? [];
  const byStatus = props.rails.token?.byStatus ?? [];
  return (
    <div class="grid-2">
      <Section title="Rail A · vendor-funded commissions (fiat)" id="rail-fiat">
        {fiat.length === 0 ? (
          <Empty>No paid referred orders in this period.</Empty>
        ) : (
          // Scrolls inside its card on a phone instead of widening the page.
          <div class="table-wrap">
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
          </div>
        )}
      </Section>
      <Section title="Rail B · platform-funded token rewards" id="rail-token">
        <p>
          Minted in this period: <strong>{tokens(props.rails.token?.mintedWei ?? "0")}</strong>
        </p>
        {byStatus.length ? (
          <div class="table-wrap">
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
          </div>
        ) : null}
      </Section>
    </div>
  );
}
