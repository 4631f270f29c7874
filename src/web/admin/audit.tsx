import { useState } from "preact/hooks";
import { dateTime } from "../lib/format";
import { ResourceStatus, useApi } from "../lib/resource";
import type { AuditEntry } from "../lib/types";
import { Empty, Section } from "../lib/ui";

/** The audit log tab: the last 200 entries, filtered in the page. */
export function Audit() {
  const log = useApi<{ items: AuditEntry[] }>("/v1/admin/audit", { limit: 200 });
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
      <ResourceStatus resource={log} what="The audit log" />
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
