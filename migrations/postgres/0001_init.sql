-- chaperone store, PostgreSQL. Version 1: runs, what they found and did, and the audit trail.
--
-- Same tables and meaning as migrations/sqlite/0001_init.sql, in PostgreSQL types.
-- Later migrations add the notification outbox and webhook events (0002, 0003, ...).
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE runs (
    id             UUID        PRIMARY KEY,
    tenant         TEXT        NOT NULL,
    kind           TEXT        NOT NULL CHECK (kind IN ('check', 'sweep', 'webhook')),
    dry_run        BOOLEAN     NOT NULL,
    schema_version INTEGER     NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ
);

CREATE INDEX runs_by_start ON runs (started_at DESC, id DESC);
CREATE INDEX runs_by_tenant ON runs (tenant, started_at DESC);

-- One row per session evaluated in a run. The id orders sessions as they were recorded.
CREATE TABLE run_sessions (
    id                BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            UUID        NOT NULL REFERENCES runs (id),
    platform          TEXT        NOT NULL,
    session_id        TEXT        NOT NULL,
    topic             TEXT        NOT NULL,
    host_email        TEXT        NOT NULL,
    start_at          TIMESTAMPTZ,
    profile           TEXT        NOT NULL,
    join_link_changed BOOLEAN     NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (run_id, platform, session_id)
);

CREATE INDEX run_sessions_by_host ON run_sessions (host_email, recorded_at);

CREATE TABLE findings (
    run_session_id BIGINT  NOT NULL REFERENCES run_sessions (id),
    position       INTEGER NOT NULL,
    control        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    observed       TEXT,
    wanted         TEXT,
    detail         TEXT    NOT NULL,
    lock           JSONB,               -- report::Lock
    PRIMARY KEY (run_session_id, position)
);

CREATE INDEX findings_by_status ON findings (status);

CREATE TABLE changes (
    run_session_id BIGINT      NOT NULL REFERENCES run_sessions (id),
    position       INTEGER     NOT NULL,
    control        TEXT        NOT NULL,
    "before"       TEXT,
    "after"        TEXT        NOT NULL,
    verified       BOOLEAN     NOT NULL,
    applied_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_session_id, position)
);

CREATE INDEX changes_by_day ON changes (applied_at);

CREATE TABLE collect_failures (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     UUID   NOT NULL REFERENCES runs (id),
    what       TEXT   NOT NULL,
    host_email TEXT,
    error      TEXT   NOT NULL
);

CREATE INDEX collect_failures_by_run ON collect_failures (run_id, id);

-- The audit trail: append-only. The id is the order of events.
CREATE TABLE audit_events (
    id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    run_id  UUID        REFERENCES runs (id),   -- NULL for events outside a run (waivers, ...)
    tenant  TEXT        NOT NULL,
    kind    TEXT        NOT NULL,               -- run.started, finding, change.applied, ...
    subject TEXT        NOT NULL,
    detail  JSONB       NOT NULL
);

CREATE INDEX audit_events_by_run ON audit_events (run_id, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed; record a new event instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
