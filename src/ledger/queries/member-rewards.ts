import type { DbOrTx } from "../../db/connect.js";

/** One page of a referrer's rewards, newest first, below `cursor`; `limit + 1` rows tell if more follow. */
export async function listMemberRewards(
  db: DbOrTx,
  memberId: string,
  page: { cursor?: bigint; limit: number },
) {
  let q = db
    .selectFrom("referral_rewards")
    .selectAll()
    .where("referrer_member_id", "=", memberId)
    .orderBy("id", "desc")
    .limit(page.limit + 1);
  if (page.cursor !== undefined) q = q.where("id", "<", page.cursor);
  return q.execute();
}
