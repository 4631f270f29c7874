import type { Command } from "commander";
import { migrate, migrationStatus } from "../db/migrate.js";
import { config, type ExitCode, print, table, withDatabase } from "./context.js";
import type { Run } from "./index.js";

/** `twinrail migrate` and `twinrail migrate status`. */
export function registerMigrate(program: Command, run: Run): void {
  const command = program
    .command("migrate")
    .description("apply migrations to DATABASE_URL (or DATA_DIR)")
    .option("--json", "print {applied, alreadyApplied} as JSON")
    .action(run(apply));
  command
    .command("status")
    .description("list migrations: applied (when), pending, changed or unknown; applies nothing")
    .option("--json", "print an array of {name, state, appliedAt} as JSON")
    .action(run(status));
}

async function apply(options: { json?: boolean }): Promise<ExitCode> {
  const result = await withDatabase(config(), (connection) => migrate(connection.sessionDb), {
    migrated: false,
  });
  print(
    options.json,
    result,
    () => `applied: ${result.applied.join(", ") || "none"}; already applied: ${result.alreadyApplied.length}`,
  );
  return 0;
}

async function status(options: { json?: boolean }): Promise<ExitCode> {
  const states = await withDatabase(config(), (connection) => migrationStatus(connection.sessionDb), {
    migrated: false,
  });
  print(options.json, states, () =>
    table(
      states.map((m) => ({ migration: m.name, state: m.state, "applied at": m.appliedAt ?? "" })),
      ["migration", "state", "applied at"],
    ),
  );
  // Something to do (pending) is not an error; a changed or unknown migration is.
  return states.some((m) => m.state === "changed" || m.state === "unknown") ? 1 : 0;
}
