-- chaperone store, SQLite. Version 2: platform webhook events (`chaperone serve`).
--
-- An event is written here before the platform gets its 200, and a worker processes it from here,
-- so a crash between the two loses nothing. The dedupe key (hex SHA-256 of the raw body) makes a
-- replay or a platform retry of the same delivery a no-op. A row moves
-- pending -> processing -> done | failed; a `processing` row whose claim is older than the lease is
-- taken again (the process died while working on it).
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE webhook_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    dedupe_key   TEXT    NOT NULL,
    event        TEXT    NOT NULL,               -- meeting.created, user.settings_updated, ...
    object_id    TEXT,                           -- the meeting, user, group or account concerned
    received_at  TEXT    NOT NULL,
    payload      TEXT    NOT NULL,               -- the raw body as received (JSON text)
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'processing', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TEXT    NOT NULL,               -- not claimed before this (retry back-off)
    claimed_by   TEXT,
    claimed_at   TEXT,
    finished_at  TEXT,
    outcome      TEXT,                           -- fixed, compliant, out-of-scope, gone, recorded, ...
    run_id       TEXT    REFERENCES runs (id),
    UNIQUE (tenant, platform, dedupe_key)
) STRICT;

CREATE INDEX webhook_events_queue ON webhook_events (state, available_at, id);
CREATE INDEX webhook_events_by_object ON webhook_events (tenant, object_id, state);
