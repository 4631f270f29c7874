import { Command, CommanderError } from "commander";
import type { ExitCode } from "./context.js";
import { registerKeys } from "./keys.js";
import { registerMigrate } from "./migrate.js";
import { registerMint } from "./mint.js";
import { registerReconcile } from "./reconcile.js";
import { registerStart } from "./start.js";
import { registerToken } from "./token.js";
import { registerWebhooks } from "./webhooks.js";

/** Wraps a command's action so that what it returns becomes the exit code. */
export type Run = <A extends unknown[]>(
  action: (...args: A) => Promise<ExitCode>,
) => (...args: A) => Promise<void>;

/**
 * `twinrail <command>` on commander 14, one module per command group. Every command has `--help`;
 * unknown commands, unknown flags, missing or invalid values and stray arguments exit with 2.
 * Resolves with the exit code (-1: keep running, `start`).
 */
export async function main(argv: string[]): Promise<ExitCode> {
  let code: ExitCode = 0;
  const run: Run =
    (action) =>
    async (...args) => {
      code = await action(...args);
    };
  const program = new Command("twinrail")
    .description("Twinrail: a dual-rail referral ledger (fiat commissions and on-chain token rewards)")
    // Inherited by every command created after this: errors throw instead of exiting, and are mapped below.
    .exitOverride()
    // `migrate status --json`: options after a subcommand are that subcommand's, not its parent's.
    .enablePositionalOptions()
    .showHelpAfterError("(add --help for usage)");
  registerStart(program, run);
  registerMigrate(program, run);
  registerKeys(program, run);
  registerToken(program, run);
  registerMint(program, run);
  registerReconcile(program, run);
  registerWebhooks(program, run);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    // --help, --version, and `twinrail` (or `twinrail keys`) alone, which print the help: not errors.
    if (["commander.helpDisplayed", "commander.help", "commander.version"].includes(error.code)) return 0;
    return 2;
  }
  return code;
}
