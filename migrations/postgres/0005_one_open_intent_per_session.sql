-- chaperone store, PostgreSQL. Version 5: at most one open write intent per session.
--
-- Same index and meaning as migrations/sqlite/0005_one_open_intent_per_session.sql.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE UNIQUE INDEX write_intents_one_open ON write_intents (tenant, platform, session_id)
    WHERE closed_at IS NULL;
