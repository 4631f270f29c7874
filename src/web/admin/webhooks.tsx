import { type ApiError, api, newIdempotencyKey } from "../lib/api";
import type { components } from "../lib/api.generated";
import { dateTime } from "../lib/format";
import { ResourceStatus, useApi } from "../lib/resource";
import { Empty, type PushToast, Section, StatusBadge } from "../lib/ui";

type WebhookEndpoint = components["schemas"]["WebhookEndpoint"];
type WebhookDelivery = components["schemas"]["WebhookDelivery"];

/** Outbound webhooks: each endpoint (a disabled one says why) and its deliveries that failed. */
export function Webhooks(props: { toast: PushToast }) {
  const endpoints = useApi<{ items: WebhookEndpoint[] }>("/v1/admin/webhook-endpoints");
  const items = endpoints.data?.items ?? [];
  const enable = async (id: string) => {
    try {
      await api(`/v1/admin/webhook-endpoints/${id}/enable`, {
        method: "POST",
        body: {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast("ok", `Endpoint #${id} enabled.`);
      endpoints.reload();
    } catch (error) {
      props.toast("error", (error as ApiError).message);
    }
  };
  return (
    <>
      <Section
        title="Webhook endpoints"
        id="webhook-endpoints"
        actions={
          <button type="button" class="btn btn-ghost" onClick={endpoints.reload}>
            Refresh
          </button>
        }
      >
        <ResourceStatus resource={endpoints} what="Webhook endpoints" />
        {endpoints.data && items.length === 0 ? (
          <Empty>
            No endpoint. Add one with <code>POST /v1/admin/webhook-endpoints</code> (docs/webhooks.md).
          </Empty>
        ) : null}
        {items.length ? (
          <div class="table-wrap">
            <table class="data">
              <thead>
                <tr>
                  <th>Endpoint</th>
                  <th>URL</th>
                  <th>Events</th>
                  <th>Status</th>
                  <th>Failing since</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {items.map((endpoint) => (
                  <tr key={endpoint.id}>
                    <td class="mono">#{endpoint.id}</td>
                    <td class="mono">{endpoint.url}</td>
                    <td>{endpoint.events.length ? endpoint.events.join(", ") : "all"}</td>
                    <td>
                      <StatusBadge status={endpoint.enabled ? "enabled" : "disabled"} />
                      {endpoint.disabledReason ? <div class="muted">{endpoint.disabledReason}</div> : null}
                    </td>
                    <td>{endpoint.failingSince ? dateTime(endpoint.failingSince) : "—"}</td>
                    <td>
                      {endpoint.enabled ? null : (
                        <button type="button" class="btn" onClick={() => enable(endpoint.id)}>
                          Enable
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
      {items.map((endpoint) => (
        <FailedDeliveries key={endpoint.id} endpoint={endpoint} toast={props.toast} />
      ))}
    </>
  );
}

function FailedDeliveries(props: { endpoint: WebhookEndpoint; toast: PushToast }) {
  const failed = useApi<{ items: WebhookDelivery[] }>(
    `/v1/admin/webhook-endpoints/${props.endpoint.id}/deliveries`,
    { status: "failed", limit: 100 },
  );
  const items = failed.data?.items ?? [];
  const retry = async (id: string) => {
    try {
      await api(`/v1/admin/webhook-deliveries/${id}/retry`, {
        method: "POST",
        body: {},
        idempotencyKey: newIdempotencyKey(),
      });
      props.toast("ok", `Delivery #${id} will be attempted again now.`);
      failed.reload();
    } catch (error) {
      props.toast("error", (error as ApiError).message);
    }
  };
  if (failed.data && items.length === 0) return null;
  return (
    <Section title={`Failed deliveries to #${props.endpoint.id}`} id={`webhook-failed-${props.endpoint.id}`}>
      <ResourceStatus resource={failed} what="Failed deliveries" />
      {items.length ? (
        <div class="table-wrap">
          <table class="data">
            <thead>
              <tr>
                <th>Delivery</th>
                <th>Event</th>
                <th>webhook-id</th>
                <th class="num">Attempts</th>
                <th>Last answer</th>
                <th>Last attempt</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((delivery) => (
                <tr key={delivery.id}>
                  <td class="mono">#{delivery.id}</td>
                  <td class="mono">{delivery.eventType}</td>
                  <td class="mono">{delivery.webhookId}</td>
                  <td class="num">{delivery.attempts}</td>
                  <td>
                    {delivery.lastResponseCode
                      ? `HTTP ${delivery.lastResponseCode}`
                      : (delivery.lastError ?? "—")}
                  </td>
                  <td>{dateTime(delivery.lastAttemptAt)}</td>
                  <td>
                    {props.endpoint.enabled ? (
                      <button type="button" class="btn" onClick={() => retry(delivery.id)}>
                        Retry
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
  );
}
