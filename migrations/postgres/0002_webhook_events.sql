-- chaperone store, PostgreSQL. Version 2: platform webhook events (`chaperone serve`).
--
-- Same table and meaning as migrations/sqlite/0002_webhook_events.sql, in PostgreSQL types.
-- Workers of several replicas claim rows with `FOR UPDATE SKIP LOCKED`.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE webhook_events (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant       TEXT        NOT NULL,
    platform     TEXT        NOT NULL,
    dedupe_key   TEXT        NOT NULL,
    event        TEXT        NOT NULL,
    object_id    TEXT,
    received_at  TIMESTAMPTZ NOT NULL,
    payload      TEXT        NOT NULL,
    state        TEXT        NOT NULL CHECK (state IN ('pending', 'processing', 'done', 'failed')),
    attempts     INTEGER     NOT NULL DEFAULT 0,
    available_at TIMESTAMPTZ NOT NULL,
    claimed_by   TEXT,
    claimed_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    outcome      TEXT,
    run_id       UUID        REFERENCES runs (id),
    UNIQUE (tenant, platform, dedupe_key)
);

CREATE INDEX webhook_events_queue ON webhook_events (state, available_at, id);
CREATE INDEX webhook_events_by_object ON webhook_events (tenant, object_id, state);
