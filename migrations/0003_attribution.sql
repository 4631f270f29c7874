-- Attribution and anti-abuse: unique visitors per code and day, the shared rate-limit store, the
-- buyer's IP hash at checkout, and the indexes the caps and retention job read. Append-only.

-- Pseudonymous visitor ids per (code, day): HMAC(day key, IP + user agent), the day key itself an
-- HMAC of IP_HASH_SECRET and the date, so ids cannot be linked across days and raw IPs never land
-- here. The primary key makes "first visit of this visitor today" an ON CONFLICT DO NOTHING.
CREATE TABLE visit_visitors (
  code          text NOT NULL REFERENCES referral_codes (code),
  day           date NOT NULL,
  visitor_hash  text NOT NULL CHECK (visitor_hash ~ '^[0-9a-f]{32,64}$'),
  PRIMARY KEY (code, day, visitor_hash)
);
CREATE INDEX visit_visitors_day_idx ON visit_visitors (day);
CREATE INDEX visit_days_day_idx ON visit_days (day);

-- Fixed-window counters shared by every instance: one atomic upsert per request.
CREATE TABLE rate_limit_hits (
  bucket        text NOT NULL CHECK (length(bucket) BETWEEN 1 AND 200),
  window_start  timestamptz NOT NULL,
  hits          integer NOT NULL CHECK (hits >= 0),
  PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_hits_window_idx ON rate_limit_hits (window_start);

-- Caps: attributions per IP hash per day read this.
CREATE INDEX members_signup_ip_idx ON members (signup_ip_hash, attributed_at) WHERE signup_ip_hash IS NOT NULL;
-- Fraud signals: "wallet shared with another member" compares case-insensitively.
CREATE INDEX members_wallet_lower_idx ON members (lower(wallet_address)) WHERE wallet_address IS NOT NULL;

-- The buyer's IP hash at checkout (same keyed hash as members.signup_ip_hash), for fraud signals.
ALTER TABLE orders ADD COLUMN buyer_ip_hash text CHECK (buyer_ip_hash IS NULL OR buyer_ip_hash ~ '^[0-9a-f]{64}$');
