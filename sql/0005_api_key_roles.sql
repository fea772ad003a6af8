-- API keys get a role, a rotation grace (the previous secret keeps working until a time), and
-- a creation time that survives updates. Keys that existed before roles were admin keys.
ALTER TABLE api_keys
    ADD COLUMN role text NOT NULL DEFAULT 'admin' CHECK (role IN ('read', 'operate', 'admin')),
    ADD COLUMN previous_secret_hash text,
    ADD COLUMN previous_valid_until timestamptz,
    ADD CONSTRAINT api_keys_previous_pair
        CHECK ((previous_secret_hash IS NULL) = (previous_valid_until IS NULL));

-- When each key was last used: runtime data written in batches by the API, so it has no
-- settings-revision trigger (a request must never bump the configuration revision).
CREATE TABLE api_key_usage (
    key_id        text PRIMARY KEY,
    last_used_at  timestamptz NOT NULL
);

-- HTTP bounds and server timeouts, and the throttle of failed authentication; absent keys
-- take the defaults documented in docs/configuration.md.
ALTER TABLE app_profile
    ADD COLUMN http_limits jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN auth_throttle jsonb NOT NULL DEFAULT '{}'::jsonb;
