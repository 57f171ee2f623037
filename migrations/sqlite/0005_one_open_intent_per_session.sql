-- chaperone store, SQLite. Version 5: at most one open write intent per session.
--
-- A writer records its intent before each write; a second writer (the schedule and a webhook of
-- one `serve`, or any two processes) that finds an open intent for the same session is refused
-- and writes nothing, so no two writers change one session at once, and a write left unrecorded
-- by a process that stopped is settled before the session is written again.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE UNIQUE INDEX write_intents_one_open ON write_intents (tenant, platform, session_id)
    WHERE closed_at IS NULL;
