import { sql } from "kysely";
import { codesChanged } from "../attribution/code-cache.js";
import { ipHash } from "../attribution/ip-hash.js";
import type { Config } from "../config.js";
import type { Db, DbOrTx } from "../db/connect.js";
import type { Member } from "../db/schema.js";
import { inTransaction } from "../db/transaction.js";
import {
  decideSignupAttribution,
  type ResolvedReferralCode,
  type SignupAttributionRefusal,
} from "../domain/attribution.js";
import { normalizeCode } from "../domain/codes.js";
import { type CapConfig, checkAttributionCaps } from "./attribution-caps.js";
import { type Actor, audit } from "./audit.js";

export interface RegisterMemberInput {
  memberId: string;
  displayName?: string | null;
  walletAddress?: string | null;
  refCode?: string | null;
  clickId?: string | null;
  /** The code from the visitor's signed first-touch cookie, when the host forwards it. */
  cookieCode?: string | null;
  /** The end user's address as the host saw it; only its keyed hash is stored (`signup_ip_hash`). */
  clientIp?: string | null;
}

/** What signup needs from the configuration: caps and the IP hash secret. */
export type RegisterMemberConfig = CapConfig & { secrets: Pick<Config["secrets"], "ipHash"> };

export interface RegisterMemberOptions {
  now?: Date;
  /** Without it no caps apply and no IP hash is stored (the demo seed, unit callers). */
  config?: RegisterMemberConfig;
}

export interface ReferredBy {
  code: string;
  memberId: string;
  source: string;
  attributedAt: string;
}

export interface RegisterMemberResult {
  created: boolean;
  memberId: string;
  referredBy: ReferredBy | null;
  attribution: { applied: boolean; reason?: Exclude<SignupAttributionRefusal, "no_referral"> };
}

/** Looks up a code (any normalization of it) with its owner's wallet; inactive codes are returned too. */
export async function resolveCode(
  db: DbOrTx,
  raw: string | null | undefined,
): Promise<ResolvedReferralCode | "unknown" | null> {
  if (raw === null || raw === undefined || raw === "") return null;
  const normalized = normalizeCode(raw);
  if (!normalized.ok) return "unknown";
  const row = await db
    .selectFrom("referral_codes as c")
    .innerJoin("members as m", "m.member_id", "c.owner_member_id")
    .select(["c.code", "c.owner_member_id", "c.active", "m.wallet_address"])
    .where("c.code", "=", normalized.code)
    .executeTakeFirst();
  if (!row) return "unknown";
  return {
    code: row.code,
    ownerMemberId: row.owner_member_id,
    ownerWallet: row.wallet_address,
    active: row.active,
  };
}

export function referredByOf(member: Member): ReferredBy | null {
  if (!member.referred_by_member_id || !member.referred_by_code || !member.attributed_at) return null;
  return {
    code: member.referred_by_code,
    memberId: member.referred_by_member_id,
    source: member.attribution_source ?? "ref_code",
    attributedAt: member.attributed_at.toISOString(),
  };
}

/**
 * Signup: creates the member (or finds it) and, first touch only, persists who referred it. The
 * attribution survives cookie expiry; a repeat call never changes it (the schema refuses too).
 */
export async function registerMember(
  db: Db,
  actor: Actor,
  input: RegisterMemberInput,
  options: Date | RegisterMemberOptions = {},
): Promise<RegisterMemberResult> {
  const { now = new Date(), config } = options instanceof Date ? { now: options } : options;
  const signupIpHash = config && input.clientIp ? ipHash(config.secrets.ipHash, input.clientIp) : null;
  return inTransaction(
    db,
    async (trx) => {
      const inserted = await trx
        .insertInto("members")
        .values({
          member_id: input.memberId,
          display_name: input.displayName ?? null,
          wallet_address: input.walletAddress ?? null,
          signup_ip_hash: signupIpHash,
        })
        .onConflict((oc) => oc.column("member_id").doNothing())
        .returning("member_id")
        .executeTakeFirst();
      let member = await trx
        .selectFrom("members")
        .selectAll()
        .where("member_id", "=", input.memberId)
        .forNoKeyUpdate()
        .executeTakeFirstOrThrow();
      if (!inserted && signupIpHash && member.signup_ip_hash === null) {
        // A member first seen at checkout (no address then) signs up now: keep the signup address.
        member = await trx
          .updateTable("members")
          .set({ signup_ip_hash: signupIpHash })
          .where("member_id", "=", member.member_id)
          .returningAll()
          .executeTakeFirstOrThrow();
      }

      const explicit = input.refCode ?? input.clickId ?? null;
      const rawCode = explicit ?? input.cookieCode ?? null;
      const source = input.refCode ? "ref_code" : input.clickId ? "click_id" : "cookie";
      const code = await resolveCode(trx, rawCode);
      const decide = (capReached: boolean) =>
        decideSignupAttribution({
          member: {
            memberId: member.member_id,
            wallet: member.wallet_address,
            referredByMemberId: member.referred_by_member_id,
          },
          code,
          capReached,
          now,
        });
      let decision = decide(false);
      // Caps are checked (and locked) only for an attribution every other rule already allows.
      if (decision.applied && config) {
        const hit = await checkAttributionCaps(trx, config, {
          referrerMemberId: decision.referrerMemberId,
          ipHash: member.signup_ip_hash,
          now,
        });
        if (hit) {
          decision = decide(true);
          await audit(
            trx,
            actor,
            "member.attribution_capped",
            { type: "member", id: member.member_id },
            null,
            {
              referrerMemberId: code && code !== "unknown" ? code.ownerMemberId : null,
              ...hit,
            },
          );
        }
      }

      let current = member;
      if (decision.applied) {
        current = await trx
          .updateTable("members")
          .set({
            referred_by_member_id: decision.referrerMemberId,
            referred_by_code: decision.code,
            attribution_source: source,
            attributed_at: decision.attributedAt,
            updated_at: now,
          })
          .where("member_id", "=", member.member_id)
          .where("referred_by_member_id", "is", null)
          .returningAll()
          .executeTakeFirstOrThrow();
        await audit(
          trx,
          actor,
          "member.attributed",
          { type: "member", id: member.member_id },
          null,
          referredByOf(current),
        );
      }
      if (inserted) {
        await audit(trx, actor, "member.created", { type: "member", id: member.member_id }, null, {
          displayName: member.display_name,
          walletAddress: member.wallet_address,
        });
      }
      return {
        created: Boolean(inserted),
        memberId: current.member_id,
        referredBy: referredByOf(current),
        attribution: decision.applied
          ? { applied: true }
          : decision.reason === "no_referral"
            ? { applied: false }
            : { applied: false, reason: decision.reason },
      };
    },
    { name: "member signup" },
  );
}

/** PATCH /v1/members/:id — display name and wallet only; attribution is immutable. */
export async function updateMember(
  db: Db,
  actor: Actor,
  memberId: string,
  patch: { displayName?: string | null; walletAddress?: string | null },
) {
  return db.transaction().execute(async (trx) => {
    const before = await trx
      .selectFrom("members")
      .selectAll()
      .where("member_id", "=", memberId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!before) return undefined;
    const after = await trx
      .updateTable("members")
      .set({
        ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
        ...(patch.walletAddress !== undefined ? { wallet_address: patch.walletAddress } : {}),
        updated_at: sql<Date>`now()`,
      })
      .where("member_id", "=", memberId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await audit(
      trx,
      actor,
      "member.updated",
      { type: "member", id: memberId },
      { displayName: before.display_name, walletAddress: before.wallet_address },
      { displayName: after.display_name, walletAddress: after.wallet_address },
    );
    codesChanged(); // the badge's display name: code caches drop now, store nothing until the commit is seen
    return after;
  });
}
