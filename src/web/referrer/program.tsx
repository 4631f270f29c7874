import type { components } from "../lib/api.generated";
import { date } from "../lib/format";
import { useApi } from "../lib/resource";
import { CopyButton, Empty, ErrorNote, Loading, Section, StatusBadge } from "../lib/ui";

type Coupon = components["schemas"]["Coupon"];
type MemberTier = components["schemas"]["MemberTier"];

const percent = (bps: number | null) => (bps === null ? "standard rate" : `${bps / 100} %`);

/** The referrer's commission tier (and per vendor program) and their coupon codes. */
export function Program() {
  const tier = useApi<MemberTier>("/v1/me/tier");
  const coupons = useApi<{ items: Coupon[] }>("/v1/me/coupons");
  return (
    <div class="grid-2">
      <Section title="Your tier" id="tier">
        {tier.error ? <ErrorNote error={tier.error} what="Your tier" /> : null}
        {!tier.data && !tier.error ? <Loading /> : null}
        {tier.data ? (
          <>
            <p class="code" data-testid="tier">
              {tier.data.tier ?? "standard"}
            </p>
            <p class="muted small" data-testid="tier-rate">
              Commission: {percent(tier.data.commissionBps)}
              {tier.data.commissionBps === null
                ? " (the store's and its vendors' rates)"
                : " on every vendor"}
              ; a product's own rate always applies first. A tier change applies to new orders.
            </p>
            {tier.data.vendors.length ? (
              <ul class="small">
                {tier.data.vendors.map((row) => (
                  <li key={row.vendorId}>
                    {row.vendorId}: {row.tier ?? "standard"}, {percent(row.commissionBps)}
                  </li>
                ))}
              </ul>
            ) : null}
          </>
        ) : null}
      </Section>
      <Section title="Your coupon codes" id="coupons">
        {coupons.error ? <ErrorNote error={coupons.error} what="Your coupons" /> : null}
        {!coupons.data && !coupons.error ? <Loading /> : null}
        {coupons.data && coupons.data.items.length === 0 ? (
          <Empty>No coupon codes yet. The store can create one for you.</Empty>
        ) : null}
        {coupons.data?.items.length ? (
          <table class="data" data-testid="coupons-table">
            <thead>
              <tr>
                <th>Code</th>
                <th class="num">Used</th>
                <th>Expires</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {coupons.data.items.map((row) => (
                <tr key={row.code}>
                  <td class="mono">
                    {row.code} <CopyButton text={row.code} label="Copy" />
                  </td>
                  <td class="num">
                    {row.redemptions}
                    {row.maxRedemptions !== null ? ` / ${row.maxRedemptions}` : ""}
                  </td>
                  <td>{row.expiresAt ? date(row.expiresAt) : "never"}</td>
                  <td>
                    <StatusBadge status={row.active ? "active" : "inactive"} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
        <p class="muted small">
          A buyer who enters your coupon at checkout counts as referred by you for that order.
        </p>
      </Section>
    </div>
  );
}
