-- The post-download pipeline (FsOps): its jobs, and the policy fields it gained.

-- One job per torrent: queued on `completed` (or on demand), resumed after a restart from the
-- first stage not recorded as done. Runtime data, not configuration: no revision trigger.
CREATE TABLE fs_jobs (
    torrent_id    uuid PRIMARY KEY,
    state         text NOT NULL
                  CHECK (state IN ('queued', 'running', 'completed', 'failed', 'skipped')),
    -- The stage running, or the one that failed.
    stage         text,
    -- stage name -> {"status": "done"|"failed"|"skipped", "at": ISO time, "detail": text}
    stages        jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts      integer NOT NULL DEFAULT 0,
    error         text,
    error_path    text,
    error_member  text,
    -- Where the payload went and the checksum manifest written there.
    library_path  text,
    manifest      text,
    -- Where the job's .revaer.meta is (it stays put while a move-mode job moves the payload).
    meta_path     text,
    request_id    text,
    queued_at     timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fs_jobs_open ON fs_jobs (queued_at) WHERE state IN ('queued', 'running');

-- Torrents that completed before the pipeline existed are not processed retroactively.
INSERT INTO fs_jobs (torrent_id, state, finished_at)
    SELECT torrent_id, 'skipped', now() FROM torrents WHERE completed_at IS NOT NULL;

ALTER TABLE fs_policy
    ADD COLUMN enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN conflict text NOT NULL DEFAULT 'rename'
        CHECK (conflict IN ('skip', 'rename', 'overwrite')),
    ADD COLUMN checksums boolean NOT NULL DEFAULT true,
    ADD COLUMN workers integer NOT NULL DEFAULT 1 CHECK (workers BETWEEN 1 AND 8),
    -- tag -> {"subdir": relative path, "move_mode": "copy"|"move"|"hardlink"}
    ADD COLUMN tag_rules jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Hardlinks are the default (the *arr apps rely on them, and seeding goes on). A policy whose
-- move_mode was never changed from the old default follows the new one.
ALTER TABLE fs_policy ALTER COLUMN move_mode SET DEFAULT 'hardlink';
UPDATE fs_policy SET move_mode = 'hardlink'
    WHERE move_mode = 'copy'
      AND NOT EXISTS (
          SELECT 1 FROM settings_history
          WHERE changes::text LIKE '%move_mode%'
      );
