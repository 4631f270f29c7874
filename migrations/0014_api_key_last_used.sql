-- When each API key was last used (issue 13.4): written at most once a minute per key, never per request.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
