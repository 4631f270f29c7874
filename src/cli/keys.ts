import { type Command, Option } from "commander";
import { createApiKey, revokeApiKey } from "../ledger/api-keys.js";
import { listApiKeys } from "../ledger/queries/api-keys.js";
import { config, type ExitCode, print, table, withDatabase } from "./context.js";
import type { Run } from "./index.js";

const CLI = { id: "cli" };

/** `twinrail keys create|list|revoke`. */
export function registerKeys(program: Command, run: Run): void {
  const keys = program.command("keys").description("API keys: create, list, revoke");
  keys
    .command("create")
    .description("create an API key; the key is printed once (only its hash is stored)")
    .addOption(
      new Option("--role <role>", "what the key may do")
        .choices(["admin", "integration", "vendor"])
        .makeOptionMandatory(),
    )
    .option("--vendor <id>", "the vendor a vendor key is scoped to")
    .option("--label <label>", "a note for people (shown by keys list)")
    .option("--json", "print {id, key, role, vendorId, label} as JSON")
    .action(run(create));
  keys
    .command("list")
    .description("list API keys with when each was last used (to the minute)")
    .option("--all", "include revoked keys")
    .option("--json", "print an array of keys as JSON")
    .action(run(list));
  keys
    .command("revoke")
    .description("revoke an API key now (idempotent); requests with it get 401 from then on")
    .argument("<id>", "the key id (tw_<id>_…)")
    .option("--json", "print {id, revokedAt, alreadyRevoked} as JSON")
    .action(run(revoke));
}

async function create(options: {
  role: "admin" | "integration" | "vendor";
  vendor?: string;
  label?: string;
  json?: boolean;
}): Promise<ExitCode> {
  if (options.role === "vendor" && !options.vendor) {
    console.error("error: a vendor key needs --vendor ID");
    return 2;
  }
  if (options.role !== "vendor" && options.vendor) {
    console.error("error: only vendor keys take --vendor");
    return 2;
  }
  const key = await withDatabase(config(), (connection) =>
    createApiKey(connection.db, CLI, { role: options.role, vendorId: options.vendor, label: options.label }),
  );
  print(options.json, { ...key, label: options.label ?? null }, () => key.key);
  return 0;
}

async function list(options: { all?: boolean; json?: boolean }): Promise<ExitCode> {
  const keys = await withDatabase(config(), (connection) =>
    listApiKeys(connection.db, { includeRevoked: options.all === true }),
  );
  print(options.json, keys, () =>
    table(
      keys.map((key) => ({
        id: key.id,
        role: key.role,
        vendor: key.vendorId ?? "",
        label: key.label ?? "",
        created: key.createdAt,
        "last used": key.lastUsedAt ?? "never",
        ...(options.all ? { revoked: key.revokedAt ?? "" } : {}),
      })),
      ["id", "role", "vendor", "label", "created", "last used", ...(options.all ? ["revoked"] : [])],
    ),
  );
  return 0;
}

async function revoke(id: string, options: { json?: boolean }): Promise<ExitCode> {
  // The revocation and its audit entry in one transaction.
  const result = await withDatabase(config(), (connection) =>
    connection.db.transaction().execute((trx) => revokeApiKey(trx, CLI, id)),
  );
  if (!result) {
    if (options.json) print(true, { error: "not_found", id }, () => "");
    else console.error(`error: no API key ${id}`);
    return 1;
  }
  print(options.json, result, () =>
    result.alreadyRevoked ? `${id} was already revoked at ${result.revokedAt}` : `revoked ${id}`,
  );
  return 0;
}
