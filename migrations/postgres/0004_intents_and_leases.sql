-- chaperone store, PostgreSQL. Version 4: write intents, writer leases, and who an orphaned
-- webhook claim was taken over from.
--
-- Same tables and meaning as migrations/sqlite/0004_intents_and_leases.sql, in PostgreSQL types.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE write_intents (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant     TEXT        NOT NULL,
    platform   TEXT        NOT NULL,
    run_id     UUID        NOT NULL REFERENCES runs (id),
    holder     TEXT        NOT NULL,
    session_id TEXT        NOT NULL,
    session    JSONB       NOT NULL,
    profile    TEXT        NOT NULL,
    changes    JSONB       NOT NULL,
    "before"   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    closed_at  TIMESTAMPTZ,
    outcome    TEXT
);

CREATE INDEX write_intents_open ON write_intents (tenant, platform, id) WHERE closed_at IS NULL;
CREATE INDEX write_intents_by_session ON write_intents (run_id, platform, session_id)
    WHERE closed_at IS NULL;

CREATE TABLE leases (
    tenant      TEXT        NOT NULL,
    platform    TEXT        NOT NULL,
    holder      TEXT        NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, platform)
);

ALTER TABLE webhook_events ADD COLUMN taken_over_from TEXT;
