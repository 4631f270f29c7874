import { type Command, InvalidArgumentError } from "commander";
import { signMemberToken } from "../lib/member-token.js";
import { config, type ExitCode, print } from "./context.js";
import type { Run } from "./index.js";

/** `twinrail token --member ID [--ttl SECONDS]`: a member token signed with MEMBER_TOKEN_SECRET. */
export function registerToken(program: Command, run: Run): void {
  program
    .command("token")
    .description("sign a member token with MEMBER_TOKEN_SECRET")
    .requiredOption("--member <id>", "the member the token is for")
    .option("--ttl <seconds>", "lifetime in seconds", seconds, 3600)
    .option("--json", "print {token, memberId, expiresAt} as JSON")
    .action(run(token));
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("a whole number of seconds ≥ 1");
  return n;
}

async function token(options: { member: string; ttl: number; json?: boolean }): Promise<ExitCode> {
  const cfg = config();
  if (cfg.generatedSecrets.includes("MEMBER_TOKEN_SECRET")) {
    console.error("MEMBER_TOKEN_SECRET is not set: a token signed now would match no running server");
    return 2;
  }
  const signed = signMemberToken(cfg.secrets.memberToken, options.member, options.ttl);
  print(
    options.json,
    {
      token: signed,
      memberId: options.member,
      expiresAt: new Date(Date.now() + options.ttl * 1000).toISOString(),
    },
    () => signed,
  );
  return 0;
}
