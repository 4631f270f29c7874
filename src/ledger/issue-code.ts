import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { codesChanged } from "../attribution/code-cache.js";
import type { Db } from "../db/connect.js";
import { generateCode, normalizeCode } from "../domain/codes.js";
import { AppError } from "../errors.js";
import { type Actor, audit } from "./audit.js";

export interface IssueCodeResult {
  code: string;
  created: boolean;
}

/**
 * Returns the member's active code, creating one if needed. `rotate` deactivates the current code and
 * issues a new random one; `vanity` claims a chosen code. Old codes stay (inactive) so that members
 * they attributed keep their referrer. Collisions are settled by the primary key, not by a lookup.
 */
export async function issueCode(
  db: Db,
  actor: Actor,
  memberId: string,
  options: { rotate?: boolean; vanity?: string | null } = {},
): Promise<IssueCodeResult> {
  let vanity: string | undefined;
  if (options.vanity !== undefined && options.vanity !== null) {
    const normalized = normalizeCode(options.vanity);
    if (!normalized.ok) {
      throw new AppError(
        "validation_failed",
        `vanity code is not allowed (${normalized.reason}): use 3–32 of A–Z, 0–9, _ and -`,
        {
          details: { field: "vanity", reason: normalized.reason },
        },
      );
    }
    vanity = normalized.code;
  }

  return db.transaction().execute(async (trx) => {
    const member = await trx
      .selectFrom("members")
      .select("member_id")
      .where("member_id", "=", memberId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!member) throw new AppError("not_found", `member ${memberId} does not exist; POST /v1/members first`);

    const current = await trx
      .selectFrom("referral_codes")
      .selectAll()
      .where("owner_member_id", "=", memberId)
      .where("active", "=", true)
      .executeTakeFirst();
    if (current && !options.rotate && (vanity === undefined || vanity === current.code)) {
      return { code: current.code, created: false };
    }
    if (current) {
      await trx
        .updateTable("referral_codes")
        .set({ active: false, deactivated_at: sql<Date>`now()` })
        .where("code", "=", current.code)
        .execute();
      await audit(
        trx,
        actor,
        "code.deactivated",
        { type: "referral_code", id: current.code },
        { active: true },
        { active: false },
      );
    }

    const candidates =
      vanity !== undefined ? [vanity] : Array.from({ length: 5 }, () => generateCode(randomBytes));
    for (const code of candidates) {
      const inserted = await trx
        .insertInto("referral_codes")
        .values({ code, owner_member_id: memberId, kind: vanity !== undefined ? "vanity" : "random" })
        .onConflict((oc) => oc.column("code").doNothing())
        .returning("code")
        .executeTakeFirst();
      if (inserted) {
        await audit(trx, actor, "code.issued", { type: "referral_code", id: code }, null, {
          memberId,
          kind: vanity ? "vanity" : "random",
        });
        codesChanged(); // this process's code caches: drop now, store nothing until the commit is seen
        return { code, created: true };
      }
    }
    throw new AppError(
      "code_taken",
      vanity !== undefined
        ? `code ${vanity} is taken; choose another`
        : "could not allocate a unique code; retry",
    );
  });
}
