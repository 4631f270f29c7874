import { count, humanStatus, tokens } from "../lib/format";
import { Empty } from "../lib/ui";

export interface Stats {
  funnel?: Record<string, number | string> | Array<{ stage: string; count: number | string }>;
  totals?: Record<string, unknown>;
  rails?: Record<string, unknown>;
  topReferrers?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

const FUNNEL_STAGES = ["visits", "signups", "orders", "paidOrders", "rewards", "minted"] as const;
const STAGE_LABEL: Record<string, string> = { paidOrders: "paid orders" };

export function funnelOf(stats: Stats): Array<{ stage: string; value: number }> {
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

export function Funnel(props: { stages: Array<{ stage: string; value: number }> }) {
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

export function TopReferrers(props: { rows: Array<Record<string, unknown>> }) {
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
