import { render } from "preact";
import { useMemo, useState } from "preact/hooks";
import { SETTLEMENT_STATUSES } from "../../domain/enums";
import { type ApiError, download } from "../lib/api";
import { BarChart, weekStart } from "../lib/chart";
import { bps, date, money, sum } from "../lib/format";
import { Report } from "../lib/report";
import { useApi } from "../lib/resource";
import type { VendorSettlement } from "../lib/types";
import {
  AuthGate,
  Empty,
  ErrorNote,
  Loading,
  Section,
  Shell,
  Stat,
  StatusBadge,
  StatusFilter,
} from "../lib/ui";
import "../lib/styles.css";

const PERIODS = [
  { id: "30d", label: "Last 30 days", days: 30 },
  { id: "90d", label: "Last 90 days", days: 90 },
  { id: "month", label: "This month", days: 0 },
  { id: "all", label: "All time", days: -1 },
] as const;

const RATE_SOURCE: Record<string, string> = {
  product: "product override",
  vendor: "vendor rate",
  platform: "platform default",
};

function periodRange(id: string): { from?: string; to?: string } {
  const now = new Date();
  const period = PERIODS.find((p) => p.id === id);
  if (!period || period.days < 0) return {};
  const to = new Date(now.getTime() + 86_400_000).toISOString().slice(0, 10);
  if (period.days === 0) {
    return {
      from: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10),
      to,
    };
  }
  return { from: new Date(now.getTime() - period.days * 86_400_000).toISOString().slice(0, 10), to };
}

interface SettlementList {
  vendorId?: string;
  items: VendorSettlement[];
  totals?: unknown;
}

function App() {
  return (
    <AuthGate
      surface="vendor"
      title="Vendor settlements"
      credential="Vendor API key"
      placeholder="tw_…"
      hint={
        <>
          Your platform gives you a key scoped to your vendor id (
          <code>twinrail keys create --role vendor --vendor ID</code>).
        </>
      }
    >
      {(signOut) => <VendorPage signOut={signOut} />}
    </AuthGate>
  );
}

function VendorPage(props: { signOut: () => void }) {
  const [period, setPeriod] = useState("all");
  const [status, setStatus] = useState("");
  const [csvState, setCsvState] = useState<{ busy: boolean; error?: ApiError; rows?: number }>({
    busy: false,
  });
  const range = periodRange(period);
  const query = { ...range, status: status || undefined };
  const list = useApi<SettlementList>("/v1/vendor/settlements", { ...query, limit: 500 });
  const summary = useApi<unknown>("/v1/vendor/summary");
  const items = list.data?.items ?? [];
  const vendorId = list.data?.vendorId;
  const currencies = [...new Set(items.map((item) => item.currency))];

  const totals = currencies.map((currency) => {
    const rows = items.filter((item) => item.currency === currency);
    return {
      currency,
      gross: sum(rows.map((r) => r.gross)),
      platformFee: sum(rows.map((r) => r.platformFee)),
      referralCommission: sum(rows.map((r) => r.referralCommission)),
      net: sum(rows.map((r) => r.net)),
      orders: rows.length,
    };
  });

  const chart = useMemo(() => {
    const currency = currencies[0];
    if (!currency) return null;
    const weeks = new Map<number, { net: bigint; commission: bigint }>();
    for (const item of items) {
      if (item.currency !== currency) continue;
      const week = weekStart(new Date(item.createdAt));
      const bucket = weeks.get(week) ?? { net: 0n, commission: 0n };
      bucket.net += BigInt(item.net);
      bucket.commission += BigInt(item.referralCommission);
      weeks.set(week, bucket);
    }
    // Always the last 12 weeks up to the newest sale or today, so the bars keep a stable width.
    const last = Math.max(...weeks.keys(), weekStart(new Date()));
    const x: number[] = [];
    for (let week = last - 11 * 7 * 86_400; week <= last; week += 7 * 86_400) x.push(week);
    // Chart scale only: display units as floats are fine here, the money itself stays bigint.
    const scale = 100;
    const format = (value: number) => money(String(Math.round(value * scale)), currency);
    return {
      currency,
      x,
      series: [
        {
          label: "Net payout",
          color: "#3b4fd8",
          size: 0.7,
          values: x.map((w) => Number(weeks.get(w)?.net ?? 0n) / scale),
          format,
        },
        {
          label: "Referral commission",
          color: "#e0892b",
          size: 0.3,
          values: x.map((w) => Number(weeks.get(w)?.commission ?? 0n) / scale),
          format,
        },
      ],
    };
  }, [items]);

  const downloadCsv = async () => {
    setCsvState({ busy: true });
    try {
      const text = await download(
        "/v1/vendor/settlements",
        { query: { ...query, format: "csv" }, accept: "text/csv" },
        `settlements-${vendorId ?? "vendor"}-${period}${status ? `-${status}` : ""}.csv`,
      );
      setCsvState({ busy: false, rows: Math.max(0, text.trim().split("\n").length - 1) });
    } catch (error) {
      setCsvState({ busy: false, error: error as ApiError });
    }
  };

  return (
    <Shell
      surface="Vendor"
      subtitle={vendorId ? `Settlements of ${vendorId}` : undefined}
      onSignOut={props.signOut}
    >
      {list.error ? (
        <ErrorNote error={list.error} what="The settlement ledger (GET /v1/vendor/settlements)" />
      ) : null}
      <div class="stats" data-testid="vendor-totals">
        {totals.length === 0 ? (
          <>
            <Stat label="Gross sales" value="—" />
            <Stat label="Referral commission" value="—" />
            <Stat label="Net payout" value="—" />
          </>
        ) : (
          totals.map((total) => (
            <>
              <Stat
                key={`${total.currency}-g`}
                label="Gross sales"
                value={money(total.gross, total.currency)}
                hint={`${total.orders} order(s)`}
              />
              <Stat
                key={`${total.currency}-f`}
                label="Platform fee"
                value={money(total.platformFee, total.currency)}
              />
              <Stat
                key={`${total.currency}-c`}
                label="Referral commission"
                value={money(total.referralCommission, total.currency)}
                hint="deducted, funds referrer rewards"
                testid="total-commission"
              />
              <Stat
                key={`${total.currency}-n`}
                label="Net payout"
                value={money(total.net, total.currency)}
                testid="total-net"
              />
            </>
          ))
        )}
      </div>
      {chart?.x.length ? (
        <Section title={`Weekly net payout and referral commission (${chart.currency})`} id="weekly">
          <BarChart
            x={chart.x}
            series={chart.series}
            slotDays={7}
            axisSize={72}
            axisFormat={(value) =>
              `${new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(value)} ${chart.currency}`
            }
            label="Weekly net payout and referral commission"
          />
        </Section>
      ) : null}
      <Section
        title="Settlement ledger"
        id="ledger"
        actions={
          <button
            type="button"
            class="btn"
            onClick={downloadCsv}
            disabled={csvState.busy || !!list.error}
            data-testid="csv"
          >
            {csvState.busy ? "Preparing…" : "Download CSV"}
          </button>
        }
      >
        <div class="filters">
          <div class="field">
            <label for="period">Period</label>
            <select
              id="period"
              value={period}
              onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}
            >
              {PERIODS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
            </select>
          </div>
          <StatusFilter id="status" value={status} statuses={SETTLEMENT_STATUSES} onChange={setStatus} />
          {csvState.error ? (
            <span class="alert alert-error small">CSV failed: {csvState.error.message}</span>
          ) : null}
          {csvState.rows !== undefined ? (
            <span class="muted small">CSV downloaded: {csvState.rows} row(s).</span>
          ) : null}
        </div>
        {!list.data && !list.error ? <Loading /> : null}
        {list.data && items.length === 0 ? <Empty>No settlements in this period.</Empty> : null}
        {items.length ? (
          <div class="table-wrap">
            <table class="data" data-testid="settlements-table">
              <thead>
                <tr>
                  <th>Order</th>
                  <th>Lines · commission rate and source</th>
                  <th class="num">Gross</th>
                  <th class="num">Platform fee</th>
                  <th class="num">Referral commission</th>
                  <th class="num">Net</th>
                  <th>Status</th>
                  <th>Scheduled</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr key={item.id} data-order={item.orderReference}>
                    <td>
                      <span class="mono">{item.orderReference}</span>
                      <div class="sub">{date(item.createdAt)}</div>
                    </td>
                    <td>
                      <ul class="lines">
                        {item.lines.map((line) => (
                          <li key={line.lineId} data-line={line.lineId}>
                            <strong>{line.productId ?? line.lineId}</strong> × {line.quantity} ={" "}
                            {money(line.subtotal, item.currency)} ·{" "}
                            <span class="rate">{bps(line.commissionBps)}</span>{" "}
                            <span class="badge badge-muted">
                              {RATE_SOURCE[line.rateSource] ?? line.rateSource}
                            </span>{" "}
                            → {money(line.referralCommission, item.currency)}
                          </li>
                        ))}
                      </ul>
                    </td>
                    <td class="num">{money(item.gross, item.currency)}</td>
                    <td class="num">
                      {money(item.platformFee, item.currency)}
                      {item.platformFeeBps !== undefined ? (
                        <div class="sub">{bps(item.platformFeeBps)}</div>
                      ) : null}
                    </td>
                    <td class="num" data-testid="commission">
                      {money(item.referralCommission, item.currency)}
                    </td>
                    <td class="num" data-testid="net">
                      {money(item.net, item.currency)}
                      {item.adjustments?.count ? (
                        <div class="sub">after refunds {money(item.effective?.net, item.currency)}</div>
                      ) : null}
                    </td>
                    <td>
                      <StatusBadge status={item.status} />
                    </td>
                    <td class="nowrap">{date(item.scheduledFor)}</td>
                  </tr>
                ))}
              </tbody>
              {totals.length === 1 && totals[0] ? (
                <tfoot>
                  <tr>
                    <td colSpan={2}>Total · {totals[0].orders} order(s)</td>
                    <td class="num">{money(totals[0].gross, totals[0].currency)}</td>
                    <td class="num">{money(totals[0].platformFee, totals[0].currency)}</td>
                    <td class="num">{money(totals[0].referralCommission, totals[0].currency)}</td>
                    <td class="num">{money(totals[0].net, totals[0].currency)}</td>
                    <td colSpan={2} />
                  </tr>
                </tfoot>
              ) : null}
            </table>
          </div>
        ) : null}
      </Section>
      <Section title="Summary per status and period" id="summary">
        {summary.error ? (
          <ErrorNote error={summary.error} what="The summary (GET /v1/vendor/summary)" />
        ) : null}
        {!summary.data && !summary.error ? <Loading /> : null}
        {summary.data ? <Summary value={summary.data as VendorSummary} /> : null}
      </Section>
    </Shell>
  );
}

interface Bucket {
  currency: string;
  count: number;
  gross: string;
  platformFee: string;
  referralCommission: string;
  net: string;
}

interface VendorSummary {
  byStatus?: Array<Bucket & { status: string }>;
  byPeriod?: Array<Bucket & { period: string }>;
  pendingNetting?: Array<{ currency: string; count: number; net: string }>;
}

function Summary(props: { value: VendorSummary }) {
  const { byStatus, byPeriod, pendingNetting } = props.value;
  if (!byStatus && !byPeriod) return <Report value={props.value} />;
  const table = (rows: Array<Bucket & { key: string }>, first: string) => (
    <div class="table-wrap">
      <table class="data">
        <thead>
          <tr>
            <th>{first}</th>
            <th class="num">Orders</th>
            <th class="num">Gross</th>
            <th class="num">Platform fee</th>
            <th class="num">Referral commission</th>
            <th class="num">Net</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={`${row.key}-${row.currency}`}>
              <td>{first === "Status" ? <StatusBadge status={row.key} /> : row.key}</td>
              <td class="num">{row.count}</td>
              <td class="num">{money(row.gross, row.currency)}</td>
              <td class="num">{money(row.platformFee, row.currency)}</td>
              <td class="num">{money(row.referralCommission, row.currency)}</td>
              <td class="num">{money(row.net, row.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
  return (
    <div class="stack">
      <div>
        <h3 class="small muted">By status (after refunds)</h3>
        {byStatus?.length ? (
          table(
            byStatus.map((r) => ({ ...r, key: r.status })),
            "Status",
          )
        ) : (
          <Empty>Nothing yet.</Empty>
        )}
      </div>
      <div>
        <h3 class="small muted">By month of sale</h3>
        {byPeriod?.length ? (
          table(
            byPeriod.map((r) => ({ ...r, key: r.period })),
            "Month",
          )
        ) : (
          <Empty>Nothing yet.</Empty>
        )}
      </div>
      {pendingNetting?.length ? (
        <div class="alert alert-warn">
          Refund adjustments waiting to be netted from your next payout:{" "}
          {pendingNetting.map((row) => `${money(row.net, row.currency)} (${row.count})`).join(", ")}
        </div>
      ) : null}
    </div>
  );
}

render(<App />, document.getElementById("app")!);
