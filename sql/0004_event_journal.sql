-- The event journal: every event but `progress`, so an SSE client that reconnects with
-- Last-Event-ID gets exactly what it missed, across daemon restarts. Ids come from one
-- in-memory counter (progress events take ids from it too but are kept only in memory);
-- `event_ids.reserved` is written ahead of that counter, and a start continues above it, so
-- ids never go back even after a crash that lost unwritten progress ids. Runtime data, not
-- configuration: no settings-revision trigger on these tables.

CREATE TABLE event_journal (
    id          bigint PRIMARY KEY,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    torrent_id  uuid,
    -- The torrent's state when the event was published (what SSE's `state` filter matches).
    state       text,
    data        jsonb NOT NULL
);
-- Retention by age deletes the oldest rows; by count, everything below an id.
CREATE INDEX event_journal_at ON event_journal (at);

CREATE TABLE event_ids (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- No id at or below this was handed out by a run that has stopped: the next run starts here.
    reserved        bigint NOT NULL DEFAULT 0,
    -- Every event up to this id has been pruned: a client asking for older ids must resync.
    pruned_through  bigint NOT NULL DEFAULT 0
);
INSERT INTO event_ids (singleton) VALUES (true);

-- Retention and keep-alive of the event stream (keys: retention_days, retention_rows,
-- keepalive_seconds); absent keys take the defaults documented in docs/configuration.md.
ALTER TABLE app_profile ADD COLUMN events jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Per-torrent caps in the catalog, so lists show them (bytes/s; null: no cap).
ALTER TABLE torrents ADD COLUMN max_download_bps bigint, ADD COLUMN max_upload_bps bigint;
