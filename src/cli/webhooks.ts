import { type Command, InvalidArgumentError } from "commander";
import { listInboundWebhookEvents, listOutboundWebhookEndpoints } from "../ledger/queries/webhook-log.js";
import { config, type ExitCode, print, table, withDatabase } from "./context.js";
import type { Run } from "./index.js";

/** `twinrail webhooks list`: inbound events received, and the outbound endpoints. */
export function registerWebhooks(program: Command, run: Run): void {
  const webhooks = program.command("webhooks").description("inbound webhook events and outbound endpoints");
  webhooks
    .command("list")
    .description("the latest inbound webhook events (deduplication log) and the outbound endpoints")
    .option("--limit <n>", "inbound events to show", count, 20)
    .option("--json", "print {inbound, outbound} as JSON (outbound null before outbound webhooks exist)")
    .action(run(list));
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000)
    throw new InvalidArgumentError("a whole number from 1 to 10000");
  return n;
}

async function list(options: { limit: number; json?: boolean }): Promise<ExitCode> {
  const { inbound, outbound } = await withDatabase(config(), async (connection) => ({
    inbound: await listInboundWebhookEvents(connection.db, options.limit),
    outbound: await listOutboundWebhookEndpoints(connection.db),
  }));
  print(options.json, { inbound, outbound }, () =>
    [
      "Inbound events (newest first):",
      table(
        inbound.map((e) => ({
          received: e.receivedAt,
          provider: e.provider,
          type: e.eventType,
          id: e.eventId,
        })),
        ["received", "provider", "type", "id"],
      ),
      "",
      "Outbound endpoints:",
      outbound === null
        ? "(outbound webhooks are not set up in this database)"
        : table(
            outbound.map((e) => ({
              id: e.id,
              url: e.url,
              events: e.events.length ? e.events.join(",") : "*",
              state: e.enabled ? "enabled" : `disabled: ${e.disabledReason ?? ""}`,
            })),
            ["id", "url", "events", "state"],
          ),
    ].join("\n"),
  );
  return 0;
}
