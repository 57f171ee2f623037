-- chaperone store, SQLite. Version 3: the notification outbox (docs/notifications.md).
--
-- Three tables:
-- - notify_items: one row per session of a notifying run that has something to tell its host,
--   written in the same transaction as the session's findings and changes (so a digest can never
--   be lost once the session is recorded), plus a marker row when a host's last session is done.
-- - outbox: one row per message and destination, assembled from notify_items (one digest per
--   host per run, escalations) or written by the admin summary. Delivered by the worker with
--   retries; `idempotency_key` travels with the message (Message-ID / Idempotency-Key).
-- - escalations: one row per needs-human item escalated to safeguarding leads, so each item is
--   escalated once whatever happens.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE notify_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL REFERENCES runs (id),
    tenant      TEXT    NOT NULL,
    host_key    TEXT    NOT NULL,                        -- the host's email, lower case
    item        TEXT CHECK (item IS NULL OR json_valid(item)),  -- JSON of notify::DigestItem
    closes_host INTEGER NOT NULL CHECK (closes_host IN (0, 1)),
    created_at  TEXT    NOT NULL,
    assembled   INTEGER NOT NULL DEFAULT 0 CHECK (assembled IN (0, 1))
) STRICT;

CREATE INDEX notify_items_pending ON notify_items (run_id, host_key) WHERE NOT assembled;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    tenant          TEXT    NOT NULL,
    run_id          TEXT    REFERENCES runs (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('host-digest', 'escalation', 'admin-summary')),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT    NOT NULL,   -- an email address, or the name of a webhook in the settings
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT,
    data            TEXT    NOT NULL CHECK (json_valid(data)),
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    claimed_until   TEXT,
    sent_at         TEXT,
    failed_at       TEXT,               -- gave up after the last attempt
    last_error      TEXT
) STRICT;

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE TABLE escalations (
    key          TEXT PRIMARY KEY NOT NULL,  -- tenant/platform/session/control/start
    tenant       TEXT NOT NULL,
    run_id       TEXT NOT NULL REFERENCES runs (id),
    escalated_at TEXT NOT NULL
) STRICT;
