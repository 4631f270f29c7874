import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Formats a y value for the legend and axis (e.g. money). */
  format?: (value: number) => string;
  /** Bar width as a share of the slot (overlaid series read as bar-in-bar). */
  size?: number;
}

/**
 * A bar chart over days or weeks (x = unix seconds), drawn by uPlot, sized to its container.
 * The numbers are also given as a visually hidden table for screen readers.
 */
export function BarChart(props: {
  x: number[];
  series: Series[];
  height?: number;
  label: string;
  /** Tick labels on the y axis (default: the first series' format). */
  axisFormat?: (value: number) => string;
  axisSize?: number;
  /** Days per bar (1 for daily, 7 for weekly). */
  slotDays?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const barsOf = (size: number) =>
      uPlot.paths.bars ? uPlot.paths.bars({ size: [size, 64], gap: 2 }) : undefined;
    const format = props.series[0]?.format ?? ((value: number) => String(value));
    const options: uPlot.Options = {
      width: Math.max(280, element.clientWidth),
      height: props.height ?? 220,
      legend: { show: props.series.length > 1, live: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      scales: {
        // Half a slot of padding each side so the first and last bars are not cut in half.
        x: {
          time: true,
          range: (_u, min, max) => [
            min - 43_200 * (props.slotDays ?? 1),
            max + 43_200 * (props.slotDays ?? 1),
          ],
        },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
      },
      axes: [
        { stroke: "#5b6478", grid: { show: false }, ticks: { show: false } },
        {
          stroke: "#5b6478",
          grid: { stroke: "#eceef3", width: 1 },
          ticks: { show: false },
          values: (_u, splits) => splits.map((value) => (props.axisFormat ?? format)(value)),
          size: props.axisSize ?? 56,
        },
      ],
      series: [
        {},
        ...props.series.map((series) => ({
          label: series.label,
          stroke: series.color,
          fill: `${series.color}cc`,
          width: 0,
          paths: barsOf(series.size ?? 0.7),
          points: { show: false },
          value: (_u: uPlot, value: number | null) =>
            value === null ? "—" : (series.format ?? String)(value),
        })),
      ],
    };
    const chart = new uPlot(options, [props.x, ...props.series.map((series) => series.values)], element);
    const observer = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(280, element.clientWidth), height: options.height }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [props.x, props.series, props.height]);

  return (
    <figure class="chart">
      <div ref={host} class="chart-host" role="img" aria-label={props.label} />
      {/* Hidden in a box, not on the table: a table is never narrower than its content, so a 1 px
          table still widened a phone's page by its overflow. */}
      <div class="visually-hidden">
        <table>
          <caption>{props.label}</caption>
          <thead>
            <tr>
              <th>Date</th>
              {props.series.map((series) => (
                <th key={series.label}>{series.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.x.map((x, index) => (
              <tr key={x}>
                <td>{new Date(x * 1000).toISOString().slice(0, 10)}</td>
                {props.series.map((series) => (
                  <td key={series.label}>{series.values[index] ?? ""}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}

/** The last `days` calendar days (UTC) as unix seconds at midnight, oldest first. */
export function lastDays(days: number, now = new Date()): number[] {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Array.from({ length: days }, (_, index) => (today - (days - 1 - index) * 86_400_000) / 1000);
}

/** Monday (UTC) of the ISO week containing `date`, as unix seconds. */
export function weekStart(date: Date): number {
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  return (day - weekday * 86_400_000) / 1000;
}
