-- The torrent catalog: one row per torrent in the session, kept current from engine events so
-- lists and details are there right after a restart. Runtime data, not configuration: no
-- settings-revision trigger on it.

CREATE TABLE torrents (
    torrent_id    uuid PRIMARY KEY,
    info_hash     text NOT NULL UNIQUE,
    name          text NOT NULL DEFAULT '',
    state         text NOT NULL DEFAULT 'queued',
    progress      double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    bytes_done    bigint NOT NULL DEFAULT 0,
    bytes_total   bigint NOT NULL DEFAULT 0,
    download_bps  bigint NOT NULL DEFAULT 0,
    upload_bps    bigint NOT NULL DEFAULT 0,
    eta_seconds   integer,
    peers         integer NOT NULL DEFAULT 0,
    seeds         integer NOT NULL DEFAULT 0,
    ratio         double precision NOT NULL DEFAULT 0,
    -- [{"index", "path", "size", "priority"}, ...] in torrent order.
    files         jsonb NOT NULL DEFAULT '[]'::jsonb,
    tags          jsonb NOT NULL DEFAULT '[]'::jsonb,
    trackers      jsonb NOT NULL DEFAULT '[]'::jsonb,
    save_path     text NOT NULL DEFAULT '',
    sequential    boolean NOT NULL DEFAULT false,
    added_at      timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    last_error    text
);
CREATE INDEX torrents_state ON torrents (state);
