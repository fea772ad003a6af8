-- Control plane: settings documents, credentials, history, and the revision/NOTIFY machinery.
-- Field lists follow the "Configuration Surface" reference (docs/configuration.md).

-- One revision for the whole configuration, bumped once per committing transaction.
CREATE TABLE settings_revision (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    revision    bigint NOT NULL DEFAULT 0,
    last_txid   bigint,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO settings_revision (id) VALUES (true);

CREATE TABLE app_profile (
    id              uuid PRIMARY KEY,
    singleton       boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    instance_name   text NOT NULL DEFAULT 'revaer',
    mode            text NOT NULL DEFAULT 'setup' CHECK (mode IN ('setup', 'active')),
    version         bigint NOT NULL DEFAULT 1,
    http_port       integer NOT NULL DEFAULT 7070 CHECK (http_port BETWEEN 1 AND 65535),
    bind_addr       text NOT NULL DEFAULT '127.0.0.1',
    telemetry       jsonb NOT NULL DEFAULT '{}'::jsonb,
    features        jsonb NOT NULL DEFAULT '{}'::jsonb,
    immutable_keys  jsonb NOT NULL DEFAULT '[]'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE engine_profile (
    id                  uuid PRIMARY KEY,
    singleton           boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    implementation      text NOT NULL DEFAULT 'libtorrent',
    listen_port         integer CHECK (listen_port BETWEEN 1 AND 65535),
    listen_interfaces   jsonb NOT NULL DEFAULT '[]'::jsonb,
    dht                 boolean NOT NULL DEFAULT true,
    lsd                 boolean NOT NULL DEFAULT true,
    upnp                boolean NOT NULL DEFAULT false,
    natpmp              boolean NOT NULL DEFAULT false,
    utp                 boolean NOT NULL DEFAULT true,
    encryption          text NOT NULL DEFAULT 'prefer',
    max_active          integer,
    max_download_bps    bigint,
    max_upload_bps      bigint,
    max_connections     integer,
    sequential_default  boolean NOT NULL DEFAULT false,
    resume_dir          text,
    download_root       text,
    tracker             jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fs_policy (
    id              uuid PRIMARY KEY,
    singleton       boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
    library_root    text,
    extract         boolean NOT NULL DEFAULT true,
    par2            text NOT NULL DEFAULT 'off',
    flatten         boolean NOT NULL DEFAULT true,
    move_mode       text NOT NULL DEFAULT 'copy',
    cleanup_keep    jsonb NOT NULL DEFAULT '[]'::jsonb,
    cleanup_drop    jsonb NOT NULL DEFAULT '[]'::jsonb,
    chmod_file      text,
    chmod_dir       text,
    owner           text,
    "group"         text,
    umask           text,
    allow_paths     jsonb NOT NULL DEFAULT '[]'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO app_profile (id) VALUES ('00000000-0000-4000-8000-000000000001');
INSERT INTO engine_profile (id) VALUES ('00000000-0000-4000-8000-000000000002');
INSERT INTO fs_policy (id) VALUES ('00000000-0000-4000-8000-000000000003');

-- API keys: only an argon2id hash of the secret is stored.
CREATE TABLE api_keys (
    key_id                  text PRIMARY KEY,
    label                   text NOT NULL DEFAULT '',
    secret_hash             text NOT NULL,
    enabled                 boolean NOT NULL DEFAULT true,
    rate_limit_burst        integer CHECK (rate_limit_burst > 0),
    rate_limit_per_seconds  integer CHECK (rate_limit_per_seconds > 0),
    expires_at              timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((rate_limit_burst IS NULL) = (rate_limit_per_seconds IS NULL))
);

-- Setup tokens: argon2id hash only; at most one unconsumed token at a time.
CREATE TABLE setup_tokens (
    id           bigserial PRIMARY KEY,
    token_hash   text NOT NULL,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    consumed_at  timestamptz,
    outcome      text CHECK (outcome IN ('completed', 'superseded')),
    issued_by    text NOT NULL DEFAULT 'api',
    CHECK ((consumed_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX setup_tokens_one_active ON setup_tokens ((true)) WHERE consumed_at IS NULL;

-- Named secrets, AES-256-GCM encrypted by the application (key outside the database).
CREATE TABLE secrets (
    name        text PRIMARY KEY,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    key_id      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Audit: one row per applied change, secrets redacted.
CREATE TABLE settings_history (
    id          bigserial PRIMARY KEY,
    revision    bigint NOT NULL,
    source      text NOT NULL,
    actor       text,
    request_id  text,
    changes     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settings_history_revision ON settings_history (revision);

-- Bump the revision once per transaction and tell listeners '<table>:<revision>:<op>'.
CREATE FUNCTION revaer_settings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rev bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
        RETURN NULL;
    END IF;
    UPDATE settings_revision
       SET revision = revision + 1, last_txid = txid_current(), updated_at = clock_timestamp()
     WHERE id AND last_txid IS DISTINCT FROM txid_current()
    RETURNING revision INTO rev;
    IF rev IS NULL THEN
        SELECT revision INTO rev FROM settings_revision WHERE id;
    END IF;
    PERFORM pg_notify('revaer_settings_changed', TG_TABLE_NAME || ':' || rev || ':' || TG_OP);
    RETURN NULL;
END;
$$;

CREATE TRIGGER app_profile_changed AFTER INSERT OR UPDATE OR DELETE ON app_profile
    FOR EACH ROW EXECUTE FUNCTION revaer_settings_changed();
CREATE TRIGGER engine_profile_changed AFTER INSERT OR UPDATE OR DELETE ON engine_profile
    FOR EACH ROW EXECUTE FUNCTION revaer_settings_changed();
CREATE TRIGGER fs_policy_changed AFTER INSERT OR UPDATE OR DELETE ON fs_policy
    FOR EACH ROW EXECUTE FUNCTION revaer_settings_changed();
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION revaer_settings_changed();
CREATE TRIGGER secrets_changed AFTER INSERT OR UPDATE OR DELETE ON secrets
    FOR EACH ROW EXECUTE FUNCTION revaer_settings_changed();
