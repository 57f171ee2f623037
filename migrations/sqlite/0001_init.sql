-- chaperone store, SQLite. Version 1: runs, what they found and did, and the audit trail.
--
-- Timestamps are RFC 3339 text in UTC with exactly six fractional digits
-- ("2025-03-01T18:30:00.000000Z"), so text order is time order.
-- Later migrations add the notification outbox and webhook events (0002, 0003, ...).
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE runs (
    id             TEXT    PRIMARY KEY NOT NULL,            -- uuid v4, hyphenated
    tenant         TEXT    NOT NULL,
    kind           TEXT    NOT NULL CHECK (kind IN ('check', 'sweep', 'webhook')),
    dry_run        INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    schema_version INTEGER NOT NULL,
    started_at     TEXT    NOT NULL,
    finished_at    TEXT
) STRICT;

CREATE INDEX runs_by_start ON runs (started_at DESC, id DESC);
CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC);

-- One row per session evaluated in a run. The id orders sessions as they were recorded.
CREATE TABLE run_sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id            TEXT    NOT NULL REFERENCES runs (id),
    platform          TEXT    NOT NULL,
    session_id        TEXT    NOT NULL,
    topic             TEXT    NOT NULL,
    host_email        TEXT    NOT NULL,
    start_at          TEXT,
    profile           TEXT    NOT NULL,
    join_link_changed INTEGER NOT NULL CHECK (join_link_changed IN (0, 1)),
    recorded_at       TEXT    NOT NULL,
    UNIQUE (run_id, platform, session_id)
) STRICT;

CREATE INDEX run_sessions_by_host ON run_sessions (host_email, recorded_at);

CREATE TABLE findings (
    run_session_id INTEGER NOT NULL REFERENCES run_sessions (id),
    position       INTEGER NOT NULL,
    control        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    observed       TEXT,
    wanted         TEXT,
    detail         TEXT    NOT NULL,
    lock           TEXT CHECK (lock IS NULL OR json_valid(lock)),  -- JSON of report::Lock
    PRIMARY KEY (run_session_id, position)
) STRICT;

CREATE INDEX findings_by_status ON findings (status);

CREATE TABLE changes (
    run_session_id INTEGER NOT NULL REFERENCES run_sessions (id),
    position       INTEGER NOT NULL,
    control        TEXT    NOT NULL,
    "before"       TEXT,
    "after"        TEXT    NOT NULL,
    verified       INTEGER NOT NULL CHECK (verified IN (0, 1)),
    applied_at     TEXT    NOT NULL,
    PRIMARY KEY (run_session_id, position)
) STRICT;

CREATE INDEX changes_by_day ON changes (applied_at);

CREATE TABLE collect_failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL REFERENCES runs (id),
    what       TEXT    NOT NULL,
    host_email TEXT,
    error      TEXT    NOT NULL
) STRICT;

CREATE INDEX collect_failures_by_run ON collect_failures (run_id, id);

-- The audit trail: append-only. The id is the order of events.
CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT    NOT NULL,
    run_id  TEXT    REFERENCES runs (id),   -- NULL for events outside a run (waivers, ...)
    tenant  TEXT    NOT NULL,
    kind    TEXT    NOT NULL,               -- run.started, finding, change.applied, ...
    subject TEXT    NOT NULL,
    detail  TEXT    NOT NULL CHECK (json_valid(detail))
) STRICT;

CREATE INDEX audit_events_by_run ON audit_events (run_id, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: rows cannot be updated; record a new event instead');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: rows cannot be deleted');
END;
