-- Wallet mode (APPROVER_KEYS_MODE=wallet, issue 15): a batch that needs an approval and has no
-- service key waits in `awaiting_approval` with the EIP-712 typed data it was sized to (its payouts
-- in order, batch id, deadline); the admin's wallet signs it, the API verifies and stores the
-- signature (`approval_signed`), and the minter sends exactly that batch on its next pass.
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'mint_batches'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%claimed%released%'
  LOOP
    EXECUTE format('ALTER TABLE mint_batches DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;

ALTER TABLE mint_batches
  ADD CONSTRAINT mint_batches_status_check CHECK (status IN
    ('claimed', 'awaiting_approval', 'approval_signed', 'signed', 'confirmed', 'failed', 'released')),
  -- The typed data's message as JSON (payouts [{orderRef, to, amount}] in order, amounts as strings).
  ADD COLUMN approval_payouts jsonb,
  -- Unix seconds; the contract reverts ApprovalExpired past it.
  ADD COLUMN approval_deadline bigint CHECK (approval_deadline IS NULL OR approval_deadline > 0),
  ADD COLUMN approval_signature text CHECK (approval_signature IS NULL OR approval_signature ~ '^0x[0-9a-f]+$'),
  ADD COLUMN approval_approver text,
  ADD COLUMN approval_signed_at timestamptz,
  ADD CONSTRAINT mint_batches_awaiting_check CHECK
    (status NOT IN ('awaiting_approval', 'approval_signed') OR (approval_payouts IS NOT NULL AND approval_deadline IS NOT NULL)),
  ADD CONSTRAINT mint_batches_approval_signed_check CHECK
    (status <> 'approval_signed' OR (approval_signature IS NOT NULL AND approval_approver IS NOT NULL));
