import { useEffect, useState } from "preact/hooks";

/**
 * Where the page's last dashboard read came from (READ_DATABASE_URL): the server says so in
 * `x-twinrail-read-source`, `x-twinrail-replica-lag-seconds` and `x-twinrail-data-as-of`.
 */
export interface ReadSource {
  source: "replica" | "primary";
  lagSeconds: number | null;
  asOf: Date | null;
}

let last: ReadSource | null = null;
const listeners = new Set<(source: ReadSource) => void>();

/** Called by the API wrapper with every answer's headers; answers without them change nothing. */
export function noteReadSource(headers: Headers): void {
  const source = headers.get("x-twinrail-read-source");
  if (source !== "replica" && source !== "primary") return;
  const lag = headers.get("x-twinrail-replica-lag-seconds");
  const asOf = headers.get("x-twinrail-data-as-of");
  last = { source, lagSeconds: lag === null ? null : Number(lag), asOf: asOf ? new Date(asOf) : null };
  for (const listener of listeners) listener(last);
}

/** "Read replica · 2.4 s behind": shown while the page's data comes from a replica. */
export function ReadSourceNote() {
  const [current, setCurrent] = useState<ReadSource | null>(last);
  useEffect(() => {
    listeners.add(setCurrent);
    return () => {
      listeners.delete(setCurrent);
    };
  }, []);
  if (current?.source !== "replica") return null;
  const lag = current.lagSeconds ?? 0;
  const title = current.asOf ? `data as of ${current.asOf.toLocaleString()}` : undefined;
  return (
    <span class="subtitle muted" title={title} data-read-source="replica">
      Read replica · {lag < 1 ? "up to date" : `${lag.toFixed(1)} s behind`}
    </span>
  );
}
