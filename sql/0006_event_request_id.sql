-- The x-request-id of the API request that caused an event (null when none did: alerts of
-- libtorrent's own doing, timers, configuration changes), so a replay after Last-Event-ID
-- carries it as the live stream did.
ALTER TABLE event_journal ADD COLUMN request_id text;
