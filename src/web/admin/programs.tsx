import { useState } from "preact/hooks";
import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import type { components } from "../lib/api.generated";
import { date } from "../lib/format";
import { useApi } from "../lib/resource";
import { Empty, ErrorNote, Loading, type PushToast, Section, StatusBadge } from "../lib/ui";

type Coupon = components["schemas"]["Coupon"];
type TierRate = components["schemas"]["TierRate"];

/** Sends a write, toasts the outcome, and returns whether it succeeded. */
async function write(toast: PushToast, path: string, method: string, body: unknown, done: string) {
  try {
    await api(path, { method, body, idempotencyKey: newIdempotencyKey() });
    toast("ok", done);
    return true;
  } catch (error) {
    toast("error", (error as ApiError).message);
    return false;
  }
}

const orNull = (value: string) => (value.trim() === "" ? null : value.trim());
const intOrNull = (value: string) => (value.trim() === "" ? null : Number(value));

/** Coupons and commission tiers (issue 14): create and deactivate coupons, set tier rates and members' tiers. */
export function Programs(props: { toast: PushToast }) {
  const coupons = useApi<{ items: Coupon[] }>("/v1/admin/coupons");
  const tiers = useApi<{ items: TierRate[] }>("/v1/admin/tiers");
  const [coupon, setCoupon] = useState({ memberId: "", code: "", discountBps: "", maxRedemptions: "" });
  const [rate, setRate] = useState({ tier: "", vendorId: "", commissionBps: "" });
  const [assign, setAssign] = useState({ memberId: "", tier: "", vendorId: "" });
  const field =
    <T extends Record<string, string>>(state: T, set: (next: T) => void, key: keyof T) =>
    (event: Event) =>
      set({ ...state, [key]: (event.target as HTMLInputElement).value });

  return (
    <>
      <Section title="Coupons" id="coupons">
        <form
          class="row"
          data-testid="coupon-form"
          onSubmit={async (event) => {
            event.preventDefault();
            const ok = await write(
              props.toast,
              `/v1/admin/members/${encodeURIComponent(coupon.memberId)}/coupons`,
              "POST",
              {
                code: orNull(coupon.code),
                discountBps: intOrNull(coupon.discountBps),
                maxRedemptions: intOrNull(coupon.maxRedemptions),
              },
              "Coupon created.",
            );
            if (ok) coupons.reload();
          }}
        >
          <input
            placeholder="Referrer member id"
            value={coupon.memberId}
            onInput={field(coupon, setCoupon, "memberId")}
            required
          />
          <input
            placeholder="Code (blank: random)"
            value={coupon.code}
            onInput={field(coupon, setCoupon, "code")}
          />
          <input
            placeholder="Discount bps"
            inputMode="numeric"
            value={coupon.discountBps}
            onInput={field(coupon, setCoupon, "discountBps")}
          />
          <input
            placeholder="Max redemptions"
            inputMode="numeric"
            value={coupon.maxRedemptions}
            onInput={field(coupon, setCoupon, "maxRedemptions")}
          />
          <button type="submit" class="btn">
            Create coupon
          </button>
        </form>
        {coupons.error ? <ErrorNote error={coupons.error} what="Coupons" /> : null}
        {!coupons.data && !coupons.error ? <Loading /> : null}
        {coupons.data && coupons.data.items.length === 0 ? <Empty>No coupons yet.</Empty> : null}
        {coupons.data?.items.length ? (
          <div class="table-wrap">
            <table class="data" data-testid="coupons-table">
              <thead>
                <tr>
                  <th>Code</th>
                  <th>Referrer</th>
                  <th class="num">Discount</th>
                  <th class="num">Redeemed</th>
                  <th>Expires</th>
                  <th>Status</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {coupons.data.items.map((row) => (
                  <tr key={row.code}>
                    <td class="mono">{row.code}</td>
                    <td class="mono">{row.memberId}</td>
                    <td class="num">
                      {row.discountBps !== null
                        ? `${row.discountBps / 100} %`
                        : row.discountAmount !== null
                          ? `${row.discountAmount} ${row.currency}`
                          : "—"}
                    </td>
                    <td class="num">
                      {row.redemptions}
                      {row.maxRedemptions !== null ? ` / ${row.maxRedemptions}` : ""}
                    </td>
                    <td>{row.expiresAt ? date(row.expiresAt) : "never"}</td>
                    <td>
                      <StatusBadge status={row.active ? "active" : "inactive"} />
                    </td>
                    <td>
                      {row.active ? (
                        <button
                          type="button"
                          class="btn btn-ghost"
                          onClick={async () => {
                            const path = `/v1/admin/coupons/${encodeURIComponent(row.code)}/deactivate`;
                            if (await write(props.toast, path, "POST", {}, `Coupon ${row.code} deactivated.`))
                              coupons.reload();
                          }}
                        >
                          Deactivate
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
      <Section title="Commission tiers" id="tiers">
        <p class="muted small">
          A line's rate: product override → the referrer's tier (this vendor's program, else platform-wide) →
          vendor → platform. Changes price new orders only.
        </p>
        <form
          class="row"
          data-testid="tier-rate-form"
          onSubmit={async (event) => {
            event.preventDefault();
            const ok = await write(
              props.toast,
              `/v1/admin/tiers/${encodeURIComponent(rate.tier)}`,
              "PUT",
              { vendorId: orNull(rate.vendorId), commissionBps: Number(rate.commissionBps) },
              `Tier ${rate.tier} rate set.`,
            );
            if (ok) tiers.reload();
          }}
        >
          <input
            placeholder="Tier (e.g. vip)"
            value={rate.tier}
            onInput={field(rate, setRate, "tier")}
            required
          />
          <input
            placeholder="Vendor (blank: all)"
            value={rate.vendorId}
            onInput={field(rate, setRate, "vendorId")}
          />
          <input
            placeholder="Commission bps"
            inputMode="numeric"
            value={rate.commissionBps}
            onInput={field(rate, setRate, "commissionBps")}
            required
          />
          <button type="submit" class="btn">
            Set rate
          </button>
        </form>
        {tiers.error ? <ErrorNote error={tiers.error} what="Tier rates" /> : null}
        {tiers.data && tiers.data.items.length === 0 ? <Empty>No tier rates yet.</Empty> : null}
        {tiers.data?.items.length ? (
          <div class="table-wrap">
            <table class="data" data-testid="tiers-table">
              <thead>
                <tr>
                  <th>Tier</th>
                  <th>Vendor program</th>
                  <th class="num">Rate</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {tiers.data.items.map((row) => (
                  <tr key={`${row.tier}:${row.vendorId ?? "*"}`}>
                    <td class="mono">{row.tier}</td>
                    <td>{row.vendorId ?? "all vendors"}</td>
                    <td class="num">{row.commissionBps / 100} %</td>
                    <td>{date(row.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <form
          class="row"
          data-testid="member-tier-form"
          onSubmit={async (event) => {
            event.preventDefault();
            await write(
              props.toast,
              `/v1/admin/members/${encodeURIComponent(assign.memberId)}/tier`,
              "PUT",
              { tier: orNull(assign.tier), vendorId: orNull(assign.vendorId) },
              assign.tier
                ? `${assign.memberId} is now ${assign.tier}.`
                : `${assign.memberId} has no tier now.`,
            );
          }}
        >
          <input
            placeholder="Referrer member id"
            value={assign.memberId}
            onInput={field(assign, setAssign, "memberId")}
            required
          />
          <input
            placeholder="Tier (blank: none)"
            value={assign.tier}
            onInput={field(assign, setAssign, "tier")}
          />
          <input
            placeholder="Vendor (blank: all)"
            value={assign.vendorId}
            onInput={field(assign, setAssign, "vendorId")}
          />
          <button type="submit" class="btn">
            Set referrer's tier
          </button>
        </form>
      </Section>
    </>
  );
}
