-- Why a reward is held. `dispute`: a chargeback is open, only the dispute's outcome releases it;
-- `amount_mismatch`: the payment differed from the order total; `review`: put aside for an admin.
-- An admin may approve or reject a reward held for `amount_mismatch` or `review`, never one held for
-- a `dispute`. A held reward always has a reason, any other status never has one: leaving `held`
-- clears it (trigger), whichever path moves the row.
ALTER TABLE referral_rewards
  ADD COLUMN hold_reason text CHECK (hold_reason IN ('dispute', 'amount_mismatch', 'review'));

-- Rewards held before this migration: an open dispute that holds them, else the stored mismatch
-- signal, else a review hold.
UPDATE referral_rewards r
   SET hold_reason = CASE
         WHEN EXISTS (SELECT 1 FROM disputes d WHERE d.held_reward_id = r.id AND d.status = 'opened') THEN 'dispute'
         WHEN r.fraud_signals @> '[{"code": "amount_mismatch"}]'::jsonb THEN 'amount_mismatch'
         ELSE 'review'
       END
 WHERE r.status = 'held';

CREATE FUNCTION twinrail_reward_hold_reason() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status <> 'held' THEN
    NEW.hold_reason := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER referral_rewards_hold_reason BEFORE INSERT OR UPDATE ON referral_rewards
  FOR EACH ROW EXECUTE FUNCTION twinrail_reward_hold_reason();

ALTER TABLE referral_rewards ADD CONSTRAINT referral_rewards_held_has_reason
  CHECK ((status = 'held') = (hold_reason IS NOT NULL));

-- A dispute opened on a reward already held (mismatch or review) takes the hold over and remembers
-- the earlier reason, which its release gives back (the reward stays held).
ALTER TABLE disputes ADD COLUMN held_reward_hold_reason text
  CHECK (held_reward_hold_reason IN ('amount_mismatch', 'review'));
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'disputes'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%held_reward_from%pending_approval%'
  LOOP
    EXECUTE format('ALTER TABLE disputes DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
ALTER TABLE disputes
  ADD CONSTRAINT disputes_held_reward_from_check
    CHECK (held_reward_from IN ('pending_approval', 'approved', 'held')),
  ADD CONSTRAINT disputes_held_reward_hold_reason_iff_held
    CHECK ((held_reward_from IS NOT DISTINCT FROM 'held') = (held_reward_hold_reason IS NOT NULL));

