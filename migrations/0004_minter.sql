-- Minter hardening: every signed transaction of a batch (a fee bump is a replacement with the same
-- nonce, so recovery must check the receipt of each of them), the history of which rewards each batch
-- claimed (a reward's batch_id is cleared when it is released), and who claimed a batch. Append-only.

-- Each signed transaction of a batch, persisted BEFORE it is broadcast. All share the batch's nonce.
CREATE TABLE mint_batch_txs (
  tx_hash                   text PRIMARY KEY CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
  batch_id                  bigint NOT NULL REFERENCES mint_batches (id),
  nonce                     bigint NOT NULL CHECK (nonce >= 0),
  raw_tx                    text NOT NULL,
  max_fee_per_gas           numeric(78, 0) NOT NULL CHECK (max_fee_per_gas >= 0),
  max_priority_fee_per_gas  numeric(78, 0) NOT NULL CHECK (max_priority_fee_per_gas >= 0),
  created_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mint_batch_txs_batch_idx ON mint_batch_txs (batch_id, created_at);

-- Which rewards a batch claimed, kept after release: "no reward claimed by two live batches" is checkable.
CREATE TABLE mint_batch_rewards (
  batch_id   bigint NOT NULL REFERENCES mint_batches (id),
  reward_id  bigint NOT NULL REFERENCES referral_rewards (id),
  PRIMARY KEY (batch_id, reward_id)
);
CREATE INDEX mint_batch_rewards_reward_idx ON mint_batch_rewards (reward_id);

ALTER TABLE mint_batches
  ADD COLUMN claimed_by text,
  ADD COLUMN fee_bumps integer NOT NULL DEFAULT 0 CHECK (fee_bumps >= 0),
  ADD COLUMN broadcast_at timestamptz;

-- Batches signed before this migration: their one transaction becomes their first recorded one.
INSERT INTO mint_batch_txs (tx_hash, batch_id, nonce, raw_tx, max_fee_per_gas, max_priority_fee_per_gas)
SELECT tx_hash, id, nonce, raw_tx, 0, 0 FROM mint_batches
 WHERE tx_hash IS NOT NULL AND raw_tx IS NOT NULL AND nonce IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO mint_batch_rewards (batch_id, reward_id)
SELECT batch_id, id FROM referral_rewards WHERE batch_id IS NOT NULL
ON CONFLICT DO NOTHING;
