import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { useTestInstance } from "../support/harness.js";

/** promtool comes from the Debian package `prometheus` (.ci/run installs it). */
function promtool(text: string) {
  return spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 30_000 });
}

describe("/metrics (prom-client)", () => {
  const t = useTestInstance();

  it("passes promtool check metrics, with # HELP on every family", async () => {
    await t.request("GET", "/r/NOSUCHCODE1");
    await t.request("GET", "/healthz");
    const metrics = await t.request("GET", "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const check = promtool(metrics.text);
    expect(check.error, "promtool is missing: apt-get install prometheus").toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toBe("");
    expect(check.status).toBe(0);

    const families = [...metrics.text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    const helped = new Set([...metrics.text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]));
    expect(families.filter((name) => !helped.has(name))).toEqual([]);
    // Default process metrics, the minter's, the visit buffer's, the transaction counters.
    for (const name of [
      "process_cpu_user_seconds_total",
      "nodejs_eventloop_lag_seconds",
      "twinrail_http_request_duration_seconds",
      "twinrail_mint_queue_depth",
      "twinrail_mint_batches_total",
      "twinrail_mint_failures_by_kind_total",
      "twinrail_rewards",
      "twinrail_visits_pending",
      "twinrail_visits_flushed_total",
      "twinrail_db_transaction_retries_total",
      "twinrail_db_statements_total",
      "twinrail_redirects_total",
    ]) {
      expect(families, name).toContain(name);
    }
  });

  it("labels HTTP durations with the route pattern and status, never the raw URL", async () => {
    const patched = await t.request("PATCH", "/v1/members/m_raw_url_42", {
      key: t.keys.integration,
      body: { displayName: "x" },
    });
    expect(patched.status).toBe(404);
    await t.request("GET", "/r/RAWCODE77");
    await t.request("GET", "/no/such/path/zz9");
    const { text } = await t.request("GET", "/metrics");
    expect(text).toMatch(
      /^twinrail_http_request_duration_seconds_count\{method="PATCH",route="\/v1\/members\/:memberId",status="404"\} [1-9]/m,
    );
    // The /r/:code fast path (plain node:http, not express) observes into the same histogram.
    expect(text).toMatch(
      /^twinrail_http_request_duration_seconds_count\{method="GET",route="\/r\/:code",status="302"\} [1-9]/m,
    );
    expect(text).toMatch(/route="\(none\)",status="404"/);
    expect(text).not.toContain("m_raw_url_42");
    expect(text).not.toContain("RAWCODE77");
    expect(text).not.toContain("zz9");
  });

  it("counts visits written by the buffer and keeps the minter's counters", async () => {
    const before = await t.request("GET", "/metrics");
    const flushed = (text: string) => Number(/^twinrail_visits_flushed_total (\d+)$/m.exec(text)?.[1]);
    const code = "ANNA7F3K";
    expect((await t.request("GET", `/r/${code}`)).status).toBe(302);
    await t.services.visits!.flush();
    const after = await t.request("GET", "/metrics");
    expect(flushed(after.text)).toBe(flushed(before.text) + 1);
    await t.services.minter.runOnce({ manual: true });
    const minted = await t.request("GET", "/metrics");
    expect(Number(/^twinrail_mint_batches_total (\d+)$/m.exec(minted.text)?.[1])).toBe(
      t.services.minter.stats.batches,
    );
    expect(minted.text).toMatch(/^twinrail_mint_running 0$/m);
    expect(minted.text).toMatch(/^twinrail_mint_failures_by_kind_total\{kind="rpc"\} 0$/m);
  });
});
