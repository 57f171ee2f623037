-- chaperone store, PostgreSQL. Version 3: the notification outbox (docs/notifications.md).
--
-- Same tables and meaning as migrations/sqlite/0003_outbox.sql, in PostgreSQL types.
-- Keep this file byte-for-byte once released: sqlx checks a checksum of every applied migration.

CREATE TABLE notify_items (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      UUID        NOT NULL REFERENCES runs (id),
    tenant      TEXT        NOT NULL,
    host_key    TEXT        NOT NULL,   -- the host's email, lower case
    item        JSONB,                  -- notify::DigestItem
    closes_host BOOLEAN     NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    assembled   BOOLEAN     NOT NULL DEFAULT FALSE
);

CREATE INDEX notify_items_pending ON notify_items (run_id, host_key) WHERE NOT assembled;

CREATE TABLE outbox (
    id              BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    tenant          TEXT        NOT NULL,
    run_id          UUID        REFERENCES runs (id),
    kind            TEXT        NOT NULL CHECK (kind IN ('host-digest', 'escalation', 'admin-summary')),
    channel         TEXT        NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT        NOT NULL,   -- an email address, or the name of a webhook in the settings
    subject         TEXT        NOT NULL,
    body_text       TEXT        NOT NULL,
    body_html       TEXT,
    data            JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,            -- gave up after the last attempt
    last_error      TEXT
);

CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE TABLE escalations (
    key          TEXT        PRIMARY KEY,  -- tenant/platform/session/control/start
    tenant       TEXT        NOT NULL,
    run_id       UUID        NOT NULL REFERENCES runs (id),
    escalated_at TIMESTAMPTZ NOT NULL
);
