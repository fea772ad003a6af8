-- Keyset pagination of the torrent catalog: a page is "the next N after (key, id)" in one
-- of the orders the list offers, with the id as the tie-breaker; filters by state, tag and
-- tracker narrow it. Without these a filtered page of 50 at 10,000 torrents was a sequential
-- scan and a sort. Progress and size are not indexed: they change with every progress write,
-- and those orders are served from the in-memory catalog.

DROP INDEX IF EXISTS torrents_state;
CREATE INDEX torrents_added_id ON torrents (added_at, torrent_id);
CREATE INDEX torrents_state_added_id ON torrents (state, added_at, torrent_id);
CREATE INDEX torrents_name_id ON torrents (lower(name), torrent_id);
CREATE INDEX torrents_tags ON torrents USING gin (tags jsonb_path_ops);
CREATE INDEX torrents_trackers ON torrents USING gin (trackers jsonb_path_ops);
