import { useState } from "preact/hooks";
import { SETTLEMENT_STATUSES } from "../../domain/enums";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import { dateTime, money, sum } from "../lib/format";
import { ResourceStatus, useApi } from "../lib/resource";
import type { Settlement } from "../lib/types";
import { Empty, ErrorNote, type PushToast, Section, StatusBadge, StatusFilter } from "../lib/ui";
import { type Payout, PayoutBatches } from "./payouts";

/** Rail A: the vendors' settlements, and the payout batches made from the due ones. */
export function Settlements(props: { toast: PushToast }) {
  const [vendorId, setVendorId] = useState("");
  const [status, setStatus] = useState("");
  const list = useApi<{ items: Settlement[] }>("/v1/admin/settlements", {
    vendorId: vendorId || undefined,
    status: status || undefined,
    limit: 500,
  });
  const [payoutError, setPayoutError] = useState<ApiError | null>(null);
  const [running, setRunning] = useState(false);
  const items = list.data?.items ?? [];
  const vendors = [...new Set(items.map((item) => item.vendorId))].sort();
  const currency = items[0]?.currency ?? "UAH";
  const oneCurrency = items.every((item) => item.currency === currency);

  const payouts = useApi<{ items: Payout[] }>("/v1/admin/payouts", {
    vendorId: vendorId || undefined,
    limit: 200,
  });

  const markPaid = async (payoutId: string) => {
    try {
      await api<unknown>(`/v1/admin/payouts/${payoutId}/paid`, {
        method: "POST",
        body: {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast("ok", `Payout #${payoutId} marked paid.`);
      payouts.reload();
      list.reload();
    } catch (error) {
      props.toast("error", (error as ApiError).message);
    }
  };

  const createPayouts = async () => {
    setRunning(true);
    setPayoutError(null);
    try {
      const result = await api<{ payouts: unknown[]; skipped: unknown[] }>("/v1/admin/payouts", {
        method: "POST",
        body: vendorId ? { vendorId } : {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast(
        "ok",
        result.payouts.length
          ? `${result.payouts.length} payout batch${result.payouts.length === 1 ? "" : "es"} created from due settlements.`
          : "Nothing was due: no payout batch created.",
      );
      list.reload();
      payouts.reload();
    } catch (error) {
      setPayoutError(error as ApiError);
    } finally {
      setRunning(false);
    }
  };

  return (
    <>
      <Section
        title="Settlements"
        id="settlements"
        actions={
          <button type="button" class="btn btn-primary" onClick={createPayouts} disabled={running}>
            {running ? "Creating…" : `Create payouts${vendorId ? ` for ${vendorId}` : ""}`}
          </button>
        }
      >
        <div class="filters">
          <div class="field">
            <label for="settlement-vendor">Vendor</label>
            <select
              id="settlement-vendor"
              value={vendorId}
              onChange={(e) => setVendorId((e.target as HTMLSelectElement).value)}
            >
              <option value="">All vendors</option>
              {[...new Set([...vendors, vendorId].filter(Boolean))].map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </div>
          <StatusFilter
            id="settlement-status"
            value={status}
            statuses={SETTLEMENT_STATUSES}
            onChange={setStatus}
          />
        </div>
        {payoutError ? (
          <ErrorNote error={payoutError} what="Creating payouts (POST /v1/admin/payouts)" />
        ) : null}
        <ResourceStatus resource={list} what="Settlements" />
        {list.data && items.length === 0 ? <Empty>No settlements match.</Empty> : null}
        {items.length ? (
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Order</th>
                  <th>Vendor</th>
                  <th class="num">Gross</th>
                  <th class="num">Platform fee</th>
                  <th class="num">Referral commission</th>
                  <th class="num">Net</th>
                  <th>Status</th>
                  <th>Scheduled</th>
                  <th>Payout</th>
                </tr>
              </thead>
              <tbody>
                {items.map((item) => (
                  <tr key={item.id}>
                    <td class="mono">{item.orderReference}</td>
                    <td>{item.vendorId}</td>
                    <td class="num">{money(item.gross, item.currency)}</td>
                    <td class="num">{money(item.platformFee, item.currency)}</td>
                    <td class="num">{money(item.referralCommission, item.currency)}</td>
                    <td class="num">{money(item.net, item.currency)}</td>
                    <td>
                      <StatusBadge status={item.status} />
                    </td>
                    <td class="nowrap">{dateTime(item.scheduledFor)}</td>
                    <td class="mono">{item.payoutId ? `#${item.payoutId}` : "—"}</td>
                  </tr>
                ))}
              </tbody>
              {oneCurrency ? (
                <tfoot>
                  <tr>
                    <td colSpan={2}>Total ({items.length})</td>
                    <td class="num">{money(sum(items.map((i) => i.gross)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.platformFee)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.referralCommission)), currency)}</td>
                    <td class="num">{money(sum(items.map((i) => i.net)), currency)}</td>
                    <td colSpan={3} />
                  </tr>
                </tfoot>
              ) : null}
            </table>
          </div>
        ) : null}
      </Section>
      <PayoutBatches payouts={payouts} onMarkPaid={markPaid} />
    </>
  );
}
