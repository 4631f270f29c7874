import type { ComponentChildren } from "preact";

/** Renders an unknown JSON report readably: booleans as pass/fail, nested objects as sections, arrays as tables. */
export function Report(props: { value: unknown; depth?: number }): ComponentChildren {
  const depth = props.depth ?? 0;
  const value = props.value;
  if (value === null || value === undefined) return <span class="muted">—</span>;
  if (typeof value === "boolean")
    return value ? <span class="badge badge-ok">✓ yes</span> : <span class="badge badge-bad">✗ no</span>;
  if (typeof value !== "object") return <span class="mono">{String(value)}</span>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span class="muted">none</span>;
    if (value.every((item) => item && typeof item === "object" && !Array.isArray(item))) {
      const columns = [...new Set(value.flatMap((item) => Object.keys(item as object)))];
      return (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                {columns.map((column) => (
                  <th key={column}>{column}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {value.map((item, index) => (
                <tr key={index}>
                  {columns.map((column) => (
                    <td key={column}>
                      <Report value={(item as Record<string, unknown>)[column]} depth={depth + 1} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    return <span class="mono">{value.map(String).join(", ")}</span>;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  return (
    <dl class="kv">
      {entries.map(([key, item]) => (
        <>
          <dt key={`${key}-k`}>{key}</dt>
          <dd key={`${key}-v`}>
            <Report value={item} depth={depth + 1} />
          </dd>
        </>
      ))}
    </dl>
  );
}
