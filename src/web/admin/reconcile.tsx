import { Report } from "../lib/report";
import { ResourceStatus, useApi } from "../lib/resource";
import { Section } from "../lib/ui";

/** The reconciliation tab: the report of GET /v1/admin/reconcile, run again on demand. */
export function Reconcile() {
  const report = useApi<Record<string, unknown>>("/v1/admin/reconcile");
  const ok = report.data ? (report.data.ok as boolean | undefined) : undefined;
  return (
    <Section
      title="Reconciliation"
      id="reconcile"
      actions={
        <button type="button" class="btn" onClick={report.reload}>
          Run again
        </button>
      }
    >
      <p class="muted">
        Journal balance per asset, fiat rail ↔ token rail agreement per order, and database ↔ chain
        (ReferralPaid logs vs minted rows).
      </p>
      <ResourceStatus resource={report} what="The reconciliation report (GET /v1/admin/reconcile)" />
      {report.data ? (
        <>
          {ok !== undefined ? (
            <div class={`alert ${ok ? "alert-ok" : "alert-error"}`} data-testid="reconcile-verdict">
              <strong>{ok ? "Everything reconciles." : "Discrepancies found — see below."}</strong>
            </div>
          ) : null}
          <Report value={report.data} />
        </>
      ) : null}
    </Section>
  );
}
