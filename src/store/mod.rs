//! The store: every run, what it found and what it changed, and an append-only audit trail
//! (DESIGN.md, "record"). SQLite by default (one file, nothing to run); PostgreSQL when several
//! replicas share one database.
//!
//! Why it is shaped like this:
//! - **Recorded as it goes.** A run is started, then each session is recorded in its own
//!   transaction (session row, findings, changes and audit events together), then the run is
//!   finished. If the process dies mid-run, everything recorded so far is kept and the run still
//!   loads, with `finished_at` empty.
//! - **One set of queries for both backends.** Both accept `$1` placeholders, so the SQL is shared
//!   and each method's body is compiled once per backend (the `on_backend!` macro). Only the DDL
//!   differs: `migrations/sqlite` and `migrations/postgres`, embedded in the binary.
//! - **Append-only audit trail.** Triggers in both backends make `UPDATE`, `DELETE` (and on
//!   PostgreSQL `TRUNCATE`) of `audit_events` fail, so not even a bug here can rewrite history.
//! - **Times** are UTC, kept to the microsecond on both backends (PostgreSQL's precision), so a
//!   report loads back the same whichever backend saved it.
//! - **No compile-time query macros**: builds need no database (research/rust-stack.md §5).
//! - **Nothing lost between a write and its record** (`intents`): an intent is committed before
//!   each platform write and closed in the transaction that records the session; at most one is
//!   open per session, so two writers never change one session at once.
//! - **One writer per tenant and platform across processes** (`leases`): a renewed lease in the
//!   store, taken with one atomic upsert, expiring when its holder dies.

mod codec;
pub mod events;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Connection, Database, Decode, QueryBuilder, Row, SqlSafeStr, Type};

use crate::control::Status;
use crate::platform::CollectFailure;
use crate::report::{ChangeRecord, Finding, RunKind, RunReport, SCHEMA_VERSION, SessionReport};
use crate::session::Lock;
use codec::{Id, Ts};
use events::NewEvent;

/// How long a SQLite writer waits for another writer (a second chaperone process) before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong in the store, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store URL `{url}` is not supported: use `sqlite://PATH` (created if missing), \
         `sqlite::memory:` or `postgres://USER@HOST/DATABASE` in `[store] url` or CHAPERONE__STORE__URL"
    )]
    UnsupportedUrl { url: String },

    #[error(
        "store URL `{url}` cannot be read: {source}. Check its spelling: `sqlite://PATH` or \
         `postgres://USER@HOST:PORT/DATABASE`"
    )]
    BadUrl { url: String, source: sqlx::Error },

    #[error(
        "cannot create the directory `{}` for the store `{}`: {source}. Create it yourself, or point \
         `[store] url` at a writable place",
        dir.display(),
        path.display()
    )]
    CreateDir {
        dir: PathBuf,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "cannot open the store `{target}`: {source}. For SQLite check that the path is a file (not a \
         directory) that this user may write; for PostgreSQL check that the server is reachable and \
         the user, password and database in the URL are right"
    )]
    Open { target: String, source: sqlx::Error },

    #[error(
        "cannot bring the store `{target}` up to date: {source}. If a newer chaperone has already used \
         this database, run that version; otherwise restore the database from a backup"
    )]
    Migrate {
        target: String,
        source: sqlx::migrate::MigrateError,
    },

    #[error("no run `{run_id}` in the store; `chaperone report --list` shows the runs there are")]
    RunNotFound { run_id: String },

    #[error(
        "run `{run_id}` already finished at {finished_at}; nothing more can be recorded in it, so \
         start a new run"
    )]
    RunFinished {
        run_id: String,
        finished_at: DateTime<Utc>,
    },

    #[error(
        "session `{subject}` is already recorded in run `{run_id}`; a run records each session once, \
         so record the retry in a new run"
    )]
    SessionAlreadyRecorded { run_id: String, subject: String },

    #[error(
        "the store failed while {action}: {source}. Check that the database is reachable and has free \
         space, then run again"
    )]
    Database {
        action: &'static str,
        source: sqlx::Error,
    },

    #[error(
        "{platform} of tenant `{tenant}` is being written by another chaperone process, `{holder}` \
         (host:pid:id), until {} unless it renews its lease; wait for it to finish, or run \
         again with `--wait` to start as soon as it has",
        until.format("%Y-%m-%d %H:%M:%S UTC")
    )]
    LeaseHeld {
        tenant: String,
        platform: String,
        holder: String,
        until: DateTime<Utc>,
    },

    #[error(
        "session `{subject}` was not changed: another chaperone writer (`{holder}`) is changing it \
         right now, or its write from {since} is not yet recorded (the next sweep settles it); \
         the next run checks the session again"
    )]
    SessionBeingWritten {
        subject: String,
        holder: String,
        since: String,
    },

    #[error(
        "stored data cannot be read back ({what}): {detail}. The database was changed outside \
         chaperone or by a newer version; use that version or restore a backup"
    )]
    Corrupt { what: String, detail: String },
}

/// A run as listed by `chaperone report --list`: who, what, when, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub tenant: String,
    pub kind: RunKind,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    /// `None` while the run is going, or when the process died before it finished.
    pub finished_at: Option<DateTime<Utc>>,
    pub sessions: u32,
    pub failures: u32,
    /// Findings per status; statuses with no finding are absent.
    pub counts: BTreeMap<Status, u32>,
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Increasing: the order events were recorded in.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `None` for events outside a run.
    pub run_id: Option<String>,
    pub tenant: String,
    /// See [`events::kind`]: `run.started`, `finding`, `change.applied`, ...
    pub kind: String,
    /// What the event is about: a run id, `platform:session-id`, `platform:session-id/control`, ...
    pub subject: String,
    pub detail: serde_json::Value,
}

/// A connection pool to the store. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: Backend,
    /// The store's location with any password removed, for error messages and logs.
    target: String,
    /// Who this connection writes as in leases and write intents: `hostname:pid:random`, new for
    /// each [`Store::connect`], so two stores in one process are two holders.
    holder: Arc<str>,
    /// Leases this store holds, shared by its clones (see `leases`).
    leases: Arc<leases::Held>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.pool {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        };
        f.debug_struct("Store")
            .field("backend", &backend)
            .field("target", &self.target)
            .finish()
    }
}

/// The few statements that differ between the backends.
struct Dialect {
    /// Begins a transaction that will write. SQLite takes the write lock at once, so two writers
    /// wait for each other (busy_timeout) instead of failing when a reader upgrades.
    begin_write: &'static str,
    /// Begins a transaction that only reads, seeing one consistent snapshot.
    begin_read: &'static str,
    /// Reads a run's state before writing into it; on PostgreSQL it holds the row so `finish_run`
    /// cannot slip in between, while sessions of one run can still be recorded in parallel.
    run_state_for_write: &'static str,
}

const SQLITE: Dialect = Dialect {
    begin_write: "BEGIN IMMEDIATE",
    begin_read: "BEGIN",
    run_state_for_write: "SELECT tenant, finished_at FROM runs WHERE id = $1",
};

const POSTGRES: Dialect = Dialect {
    begin_write: "BEGIN",
    begin_read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    run_state_for_write: "SELECT tenant, finished_at FROM runs WHERE id = $1 FOR SHARE",
};

/// Runs `$body` with `$pool` bound to the concrete pool and `$dialect` to its [`Dialect`]; the body
/// is compiled once per backend, so the same sqlx calls serve both.
macro_rules! on_backend {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.pool {
            Backend::Sqlite($pool) => {
                let $dialect = &SQLITE;
                let _ = $dialect;
                $body
            }
            Backend::Postgres($pool) => {
                let $dialect = &POSTGRES;
                let _ = $dialect;
                $body
            }
        }
    };
}

/// Inside [`on_backend!`]: opens a write transaction and locks the run's row, giving the
/// transaction and the run's tenant, or returns the error for a run that is unknown or finished.
/// Every write to a run starts this way, so a finished run can never be written to.
macro_rules! begin_run_write {
    ($pool:ident, $dialect:ident, $id:expr, $run_id:expr, $action:expr) => {{
        let mut tx = $pool
            .begin_with($dialect.begin_write)
            .await
            .map_err(db($action))?;
        let tenant = open_run_tenant(
            sqlx::query($dialect.run_state_for_write)
                .bind($id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db($action))?,
            $run_id,
        )?;
        (tx, tenant)
    }};
}

/// Starts a bulk statement whose database type is the pool's.
fn builder<DB: Database>(_pool: &sqlx::Pool<DB>, init: &str) -> QueryBuilder<DB>
where
    DB::Arguments: Default,
{
    QueryBuilder::new(init)
}

/// Maps a sqlx error to [`StoreError::Database`] saying what the store was doing.
fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { action, source }
}

/// Reads one column, treating a missing column or an undecodable value as corrupt data.
fn col<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, StoreError>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    &'static str: ColumnIndex<R>,
{
    row.try_get(name).map_err(|e| StoreError::Corrupt {
        what: format!("column `{name}`"),
        detail: e.to_string(),
    })
}

/// Parses a stored name (`waiting-room`, `needs-human`, `zoom`, ...) through the type's serde names,
/// which are the names the store writes.
fn parse_name<T: DeserializeOwned>(what: &'static str, name: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
        StoreError::Corrupt {
            what: what.to_string(),
            detail: format!("unknown name `{name}`"),
        }
    })
}

fn count(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt {
        what: what.to_string(),
        detail: format!("count {n} out of range"),
    })
}

fn run_kind(name: String) -> Result<RunKind, StoreError> {
    parse_name("run kind", name)
}

/// Removes the password from a PostgreSQL URL, so the URL can appear in errors and logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot have a password, which this one had.
                let _ = parsed.set_password(Some("****"));
            }
            parsed.to_string()
        }
        Err(_) => "(the PostgreSQL URL, not shown: it does not parse)".to_string(),
    }
}

/// The schema's migrations in order: (version, name, SQLite SQL, PostgreSQL SQL). Each feature
/// that needs tables adds one line here and one file per backend under `migrations/`.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "webhook_events",
        include_str!("../../migrations/sqlite/0002_webhook_events.sql"),
        include_str!("../../migrations/postgres/0002_webhook_events.sql"),
    ),
    (
        3,
        "outbox",
        include_str!("../../migrations/sqlite/0003_outbox.sql"),
        include_str!("../../migrations/postgres/0003_outbox.sql"),
    ),
    (
        4,
        "intents_and_leases",
        include_str!("../../migrations/sqlite/0004_intents_and_leases.sql"),
        include_str!("../../migrations/postgres/0004_intents_and_leases.sql"),
    ),
    (
        5,
        "one_open_intent_per_session",
        include_str!("../../migrations/sqlite/0005_one_open_intent_per_session.sql"),
        include_str!("../../migrations/postgres/0005_one_open_intent_per_session.sql"),
    ),
    (
        6,
        "run_rates",
        include_str!("../../migrations/sqlite/0006_run_rates.sql"),
        include_str!("../../migrations/postgres/0006_run_rates.sql"),
    ),
];

fn migrator(postgres: bool) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, name, sqlite, pg)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    if postgres { *pg } else { *sqlite }.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn sqlite_migrator() -> Migrator {
    migrator(false)
}

fn postgres_migrator() -> Migrator {
    migrator(true)
}

impl Store {
    /// Opens the store at `url` and brings its schema up to date.
    ///
    /// - `sqlite://PATH`: the file (and its directory) is created if missing; WAL journal so
    ///   reports can be read while a sweep writes; foreign keys on; writers wait for each other.
    /// - `sqlite::memory:`: a private database that lives as long as this `Store` (tests, demos).
    /// - `postgres://USER:PASSWORD@HOST:PORT/DATABASE`: shared by several replicas. A schema other
    ///   than `public` is chosen with `?options=-c%20search_path%3DNAME`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let trimmed = url.trim();
        if trimmed.starts_with("sqlite:") {
            Store::connect_sqlite(trimmed).await
        } else if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
            Store::connect_postgres(trimmed).await
        } else {
            let shown = if trimmed.contains('@') {
                redact(trimmed)
            } else {
                trimmed.to_string()
            };
            Err(StoreError::UnsupportedUrl { url: shown })
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::BadUrl {
            url: url.to_string(),
            source,
        })?;
        let in_memory =
            url == "sqlite::memory:" || url.contains(":memory:") || url.contains("mode=memory");
        let options = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let (options, pool_options, target) = if in_memory {
            // Every connection to a private in-memory database would see its own empty database,
            // and the database vanishes with its last connection: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            (options, pool, "sqlite::memory:".to_string())
        } else {
            let path = options.get_filename().to_path_buf();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                    dir: dir.to_path_buf(),
                    path: path.clone(),
                    source,
                })?;
            }
            // FULL: a commit survives a power cut, not only a crash of the process. It costs an
            // fsync per recorded session, which is nothing next to the platform's rate limits.
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let pool = SqlitePoolOptions::new().max_connections(4);
            (options, pool, display_path(&path))
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        // SQLite has no lock for migrations: two processes opening a new store at once may both
        // apply the same migration, and the loser's fails ("table ... already exists") after the
        // winner's has committed. Each migration is its own transaction, so running them again
        // finds it applied and goes on.
        let mut attempt = 0;
        loop {
            match sqlite_migrator().run(&pool).await {
                Ok(()) => break,
                Err(_) if attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(source) => {
                    return Err(StoreError::Migrate {
                        target: target.clone(),
                        source,
                    });
                }
            }
        }
        Ok(Store::with_pool(Backend::Sqlite(pool), target))
    }

    async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        let target = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::BadUrl {
            url: target.clone(),
            source,
        })?;
        // One plain connection first: it fails at once when the server cannot be reached (a pool
        // would retry until its timeout), and it applies the migrations.
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        postgres_migrator()
            .run(&mut conn)
            .await
            .map_err(|source| StoreError::Migrate {
                target: target.clone(),
                source,
            })?;
        // Closing politely only matters to the server's log; the pool below is what counts.
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        Ok(Store::with_pool(Backend::Postgres(pool), target))
    }

    fn with_pool(pool: Backend, target: String) -> Store {
        Store {
            pool,
            target,
            holder: new_holder().into(),
            leases: Arc::default(),
        }
    }

    /// Who this store writes as in leases and write intents (`hostname:pid:random`): it names
    /// the process when another one is refused a lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Where this store is (path or URL without password), for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes the pool, waiting for queries in flight. Dropping the store also closes it, but
    /// without waiting.
    pub async fn close(&self) {
        on_backend!(self, |pool, _d| pool.close().await)
    }

    /// Checks that the database answers (readiness probes, `chaperone doctor`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, |pool, _d| {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map_err(db("checking that the database answers"))?;
        });
        Ok(())
    }

    /// Records the start of a run and returns its id (a UUID v4). Committed at once, so a run
    /// whose process dies still shows in `report --list`.
    pub async fn start_run(
        &self,
        tenant: &str,
        kind: RunKind,
        dry_run: bool,
        started_at: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let id = Id::new_v4();
        let run_id = id.to_string();
        let at = Ts::new(started_at);
        let event = events::run_started(&run_id, kind, dry_run, at);
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write)
                .await
                .map_err(db("starting a run"))?;
            sqlx::query(
                "INSERT INTO runs (id, tenant, kind, dry_run, schema_version, started_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(tenant)
            .bind(kind.name())
            .bind(dry_run)
            .bind(SCHEMA_VERSION as i32)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db("starting a run"))?;
            let mut insert = builder(pool, INSERT_EVENTS);
            push_events(&mut insert, id, tenant, std::slice::from_ref(&event));
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db("starting a run"))?;
            tx.commit().await.map_err(db("starting a run"))?;
        });
        Ok(run_id)
    }

    /// Records one session of a run, as it is now. See [`Store::record_session_at`].
    pub async fn record_session(
        &self,
        run_id: &str,
        session: &SessionReport,
    ) -> Result<(), StoreError> {
        self.record_session_at(run_id, session, Utc::now()).await
    }

    /// Records one session of a run: the session, its findings and changes and their audit events,
    /// all in one transaction, committed before this returns. `recorded_at` stamps the changes
    /// (`applied_at`, which [`Store::updates_today`] counts by) and the audit events.
    pub async fn record_session_at(
        &self,
        run_id: &str,
        session: &SessionReport,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_session_tx(run_id, session, recorded_at, None, None)
            .await
            .map(|_| ())
    }

    /// [`Store::record_session_at`], plus the session's notify item in the same transaction
    /// (see [`Store::record_session_with_outbox`]). The run's open write intent for the session
    /// is closed in the same transaction; with `closing`, that intent (settled by a later run)
    /// is closed instead, with its audit event, and false is returned, recording nothing, when it
    /// was already closed.
    async fn record_session_tx(
        &self,
        run_id: &str,
        session: &SessionReport,
        recorded_at: DateTime<Utc>,
        notify: Option<&outbox::PendingItem<'_>>,
        closing: Option<&intents::Closing<'_>>,
    ) -> Result<bool, StoreError> {
        let id = Id::parse(run_id).ok_or_else(|| StoreError::RunNotFound {
            run_id: run_id.to_string(),
        })?;
        let at = Ts::new(recorded_at);
        let mut session_events = events::session_recorded(session, at);
        if let Some(c) = closing {
            session_events.push(c.event.clone());
        }
        const ACTION: &str = "recording a session";
        on_backend!(self, |pool, dialect| {
            let (mut tx, tenant) = begin_run_write!(pool, dialect, id, run_id, ACTION);
            let closed = match closing {
                Some(c) => sqlx::query(
                    "UPDATE write_intents SET closed_at = $2, outcome = $3 \
                     WHERE id = $1 AND closed_at IS NULL",
                )
                .bind(c.id)
                .bind(at)
                .bind(c.outcome)
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?
                .rows_affected(),
                None => sqlx::query(
                    "UPDATE write_intents SET closed_at = $4, outcome = 'recorded' \
                     WHERE run_id = $1 AND platform = $2 AND session_id = $3 \
                       AND closed_at IS NULL",
                )
                .bind(id)
                .bind(session.platform.name())
                .bind(&session.session_id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?
                .rows_affected(),
            };
            if closing.is_some() && closed != 1 {
                // Settled by someone else meanwhile: their record stands.
                return Ok(false);
            }
            let inserted = sqlx::query(
                "INSERT INTO run_sessions (run_id, platform, session_id, topic, host_email, \
                 start_at, profile, join_link_changed, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(id)
            .bind(session.platform.name())
            .bind(&session.session_id)
            .bind(&session.topic)
            .bind(&session.host_email)
            .bind(session.start.map(Ts::new))
            .bind(&session.profile)
            .bind(session.join_link_changed)
            .bind(at)
            .fetch_one(&mut *tx)
            .await;
            let row = match inserted {
                Ok(row) => row,
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::SessionAlreadyRecorded {
                        run_id: run_id.to_string(),
                        subject: events::session_subject(session),
                    });
                }
                Err(e) => return Err(db(ACTION)(e)),
            };
            let session_row: i64 = col(&row, "id")?;

            if !session.findings.is_empty() {
                let mut insert = builder(
                    pool,
                    "INSERT INTO findings (run_session_id, position, control, status, observed, \
                     wanted, detail, lock) ",
                );
                insert.push_values(session.findings.iter().enumerate(), |mut b, (i, f)| {
                    b.push_bind(session_row)
                        .push_bind(i as i32)
                        .push_bind(f.control.name())
                        .push_bind(f.status.name())
                        .push_bind(f.observed.as_deref())
                        .push_bind(f.wanted.as_deref())
                        .push_bind(f.detail.as_str())
                        .push_bind(f.lock.as_ref().map(Json));
                });
                insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            }
            if !session.changes.is_empty() {
                let mut insert = builder(
                    pool,
                    "INSERT INTO changes (run_session_id, position, control, \"before\", \
                     \"after\", verified, applied_at) ",
                );
                insert.push_values(session.changes.iter().enumerate(), |mut b, (i, c)| {
                    b.push_bind(session_row)
                        .push_bind(i as i32)
                        .push_bind(c.control.name())
                        .push_bind(c.before.as_deref())
                        .push_bind(c.after.as_str())
                        .push_bind(c.verified)
                        .push_bind(at);
                });
                insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            }
            let mut insert = builder(pool, INSERT_EVENTS);
            push_events(&mut insert, id, &tenant, &session_events);
            insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            if let Some(pending) = notify {
                let mut insert = builder(pool, outbox::INSERT_ITEM);
                outbox::push_item(&mut insert, id, &tenant, pending, at);
                insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            }
            tx.commit().await.map_err(db(ACTION))?;
        });
        Ok(true)
    }

    /// Records the parts of a platform that could not be read in a run, with an audit event each.
    pub async fn record_failures(
        &self,
        run_id: &str,
        failures: &[CollectFailure],
    ) -> Result<(), StoreError> {
        if failures.is_empty() {
            return Ok(());
        }
        let id = Id::parse(run_id).ok_or_else(|| StoreError::RunNotFound {
            run_id: run_id.to_string(),
        })?;
        let at = Ts::new(Utc::now());
        let failure_events: Vec<NewEvent> = failures
            .iter()
            .map(|f| events::collect_failed(f, at))
            .collect();
        const ACTION: &str = "recording collect failures";
        on_backend!(self, |pool, dialect| {
            let (mut tx, tenant) = begin_run_write!(pool, dialect, id, run_id, ACTION);
            let mut insert = builder(
                pool,
                "INSERT INTO collect_failures (run_id, what, host_email, error) ",
            );
            insert.push_values(failures, |mut b, f| {
                b.push_bind(id)
                    .push_bind(f.what.as_str())
                    .push_bind(f.host_email.as_deref())
                    .push_bind(f.error.as_str());
            });
            insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            let mut insert = builder(pool, INSERT_EVENTS);
            push_events(&mut insert, id, &tenant, &failure_events);
            insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            tx.commit().await.map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// Marks a run finished and writes a `run.finished` event with its totals. A run is finished
    /// once: finishing it again is [`StoreError::RunFinished`].
    pub async fn finish_run(
        &self,
        run_id: &str,
        finished_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let id = Id::parse(run_id).ok_or_else(|| StoreError::RunNotFound {
            run_id: run_id.to_string(),
        })?;
        let at = Ts::new(finished_at);
        const ACTION: &str = "finishing a run";
        on_backend!(self, |pool, dialect| {
            let (mut tx, tenant) = begin_run_write!(pool, dialect, id, run_id, ACTION);
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM run_sessions WHERE run_id = $1) AS sessions, \
                        (SELECT COUNT(*) FROM collect_failures WHERE run_id = $1) AS failures",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db(ACTION))?;
            let sessions: i64 = col(&row, "sessions")?;
            let failures: i64 = col(&row, "failures")?;
            let mut statuses = BTreeMap::new();
            for row in sqlx::query(
                "SELECT f.status AS status, COUNT(*) AS n FROM findings f \
                 JOIN run_sessions s ON s.id = f.run_session_id \
                 WHERE s.run_id = $1 GROUP BY f.status",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                statuses.insert(col::<_, String>(&row, "status")?, col::<_, i64>(&row, "n")?);
            }
            sqlx::query("UPDATE runs SET finished_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?;
            let event = events::run_finished(run_id, sessions, failures, &statuses, at);
            let mut insert = builder(pool, INSERT_EVENTS);
            push_events(&mut insert, id, &tenant, std::slice::from_ref(&event));
            insert.build().execute(&mut *tx).await.map_err(db(ACTION))?;
            tx.commit().await.map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// Records what the platform's rate-limit budgets allowed during a run, so `report --run`
    /// says it again.
    pub async fn record_rates(
        &self,
        run_id: &str,
        rates: &[crate::report::RateAllowed],
    ) -> Result<(), StoreError> {
        let id = Id::parse(run_id).ok_or_else(|| StoreError::RunNotFound {
            run_id: run_id.to_string(),
        })?;
        const ACTION: &str = "recording a run's rates";
        let rates = serde_json::to_value(rates).map_err(|e| StoreError::Corrupt {
            what: "run rates".into(),
            detail: e.to_string(),
        })?;
        on_backend!(self, |pool, _dialect| {
            sqlx::query("UPDATE runs SET rates = $2 WHERE id = $1")
                .bind(id)
                .bind(Json(rates))
                .execute(pool)
                .await
                .map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// Loads a run as it was recorded: sessions in report order ([`RunReport::sort_sessions`]), findings and
    /// changes in their report order. A run whose process died loads with `finished_at` `None`.
    pub async fn load_run(&self, run_id: &str) -> Result<RunReport, StoreError> {
        let not_found = || StoreError::RunNotFound {
            run_id: run_id.to_string(),
        };
        let id = Id::parse(run_id).ok_or_else(not_found)?;
        const ACTION: &str = "loading a run";
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_read)
                .await
                .map_err(db(ACTION))?;
            let run = sqlx::query(
                "SELECT tenant, kind, dry_run, schema_version, started_at, finished_at, rates \
                 FROM runs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(ACTION))?
            .ok_or_else(not_found)?;
            let schema_version: i32 = col(&run, "schema_version")?;
            let mut report = RunReport {
                schema_version: u32::try_from(schema_version).map_err(|_| StoreError::Corrupt {
                    what: "run schema version".into(),
                    detail: schema_version.to_string(),
                })?,
                run_id: id.to_string(),
                tenant: col(&run, "tenant")?,
                kind: run_kind(col(&run, "kind")?)?,
                dry_run: col(&run, "dry_run")?,
                started_at: col::<_, Ts>(&run, "started_at")?.get(),
                finished_at: col::<_, Option<Ts>>(&run, "finished_at")?.map(Ts::get),
                sessions: Vec::new(),
                failures: Vec::new(),
                rates: col::<_, Option<Json<Vec<crate::report::RateAllowed>>>>(&run, "rates")?
                    .map(|j| j.0)
                    .unwrap_or_default(),
            };

            let mut index: HashMap<i64, usize> = HashMap::new();
            for row in sqlx::query(
                "SELECT id, platform, session_id, topic, host_email, start_at, profile, \
                 join_link_changed FROM run_sessions WHERE run_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                index.insert(col(&row, "id")?, report.sessions.len());
                report.sessions.push(SessionReport {
                    platform: parse_name("platform", col(&row, "platform")?)?,
                    session_id: col(&row, "session_id")?,
                    topic: col(&row, "topic")?,
                    host_email: col(&row, "host_email")?,
                    start: col::<_, Option<Ts>>(&row, "start_at")?.map(Ts::get),
                    profile: col(&row, "profile")?,
                    findings: Vec::new(),
                    changes: Vec::new(),
                    join_link_changed: col(&row, "join_link_changed")?,
                });
            }
            let session_of = |row_id: i64| {
                index
                    .get(&row_id)
                    .copied()
                    .ok_or_else(|| StoreError::Corrupt {
                        what: "finding or change".into(),
                        detail: format!("belongs to no session of run {run_id}"),
                    })
            };

            for row in sqlx::query(
                "SELECT f.run_session_id AS session_row, f.control, f.status, f.observed, \
                 f.wanted, f.detail, f.lock FROM findings f \
                 JOIN run_sessions s ON s.id = f.run_session_id \
                 WHERE s.run_id = $1 ORDER BY f.run_session_id, f.position",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                let at = session_of(col(&row, "session_row")?)?;
                report.sessions[at].findings.push(Finding {
                    control: parse_name("control", col(&row, "control")?)?,
                    status: parse_name("status", col(&row, "status")?)?,
                    observed: col(&row, "observed")?,
                    wanted: col(&row, "wanted")?,
                    detail: col(&row, "detail")?,
                    lock: col::<_, Option<Json<Lock>>>(&row, "lock")?.map(|j| j.0),
                });
            }

            for row in sqlx::query(
                "SELECT c.run_session_id AS session_row, c.control, c.\"before\" AS before_value, \
                 c.\"after\" AS after_value, c.verified FROM changes c \
                 JOIN run_sessions s ON s.id = c.run_session_id \
                 WHERE s.run_id = $1 ORDER BY c.run_session_id, c.position",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                let at = session_of(col(&row, "session_row")?)?;
                report.sessions[at].changes.push(ChangeRecord {
                    control: parse_name("control", col(&row, "control")?)?,
                    before: col(&row, "before_value")?,
                    after: col(&row, "after_value")?,
                    verified: col(&row, "verified")?,
                });
            }

            for row in sqlx::query(
                "SELECT what, host_email, error FROM collect_failures WHERE run_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                report.failures.push(CollectFailure {
                    what: col(&row, "what")?,
                    host_email: col(&row, "host_email")?,
                    error: col(&row, "error")?,
                });
            }
            tx.commit().await.map_err(db(ACTION))?;
            report.sort_sessions();
            Ok(report)
        })
    }

    /// The latest `limit` runs, newest first, with their session, failure and status counts.
    pub async fn list_runs(&self, limit: u32) -> Result<Vec<RunSummary>, StoreError> {
        const ACTION: &str = "listing runs";
        let limit = i64::from(limit);
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_read)
                .await
                .map_err(db(ACTION))?;
            let mut runs = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            for row in sqlx::query(
                "SELECT r.id, r.tenant, r.kind, r.dry_run, r.started_at, r.finished_at, \
                 (SELECT COUNT(*) FROM run_sessions s WHERE s.run_id = r.id) AS sessions, \
                 (SELECT COUNT(*) FROM collect_failures f WHERE f.run_id = r.id) AS failures \
                 FROM runs r ORDER BY r.started_at DESC, r.id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                let run_id = col::<_, Id>(&row, "id")?.to_string();
                index.insert(run_id.clone(), runs.len());
                runs.push(RunSummary {
                    run_id,
                    tenant: col(&row, "tenant")?,
                    kind: run_kind(col(&row, "kind")?)?,
                    dry_run: col(&row, "dry_run")?,
                    started_at: col::<_, Ts>(&row, "started_at")?.get(),
                    finished_at: col::<_, Option<Ts>>(&row, "finished_at")?.map(Ts::get),
                    sessions: count("session count", col(&row, "sessions")?)?,
                    failures: count("failure count", col(&row, "failures")?)?,
                    counts: BTreeMap::new(),
                });
            }
            for row in sqlx::query(
                "SELECT s.run_id AS run_id, f.status AS status, COUNT(*) AS n FROM findings f \
                 JOIN run_sessions s ON s.id = f.run_session_id \
                 WHERE s.run_id IN \
                   (SELECT r.id FROM runs r ORDER BY r.started_at DESC, r.id DESC LIMIT $1) \
                 GROUP BY s.run_id, f.status",
            )
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(ACTION))?
            {
                let run_id = col::<_, Id>(&row, "run_id")?.to_string();
                let status: Status = parse_name("status", col(&row, "status")?)?;
                let n = count("finding count", col(&row, "n")?)?;
                // A run started between the two queries is absent from `index`: skip it.
                if let Some(&at) = index.get(&run_id) {
                    runs[at].counts.insert(status, n);
                }
            }
            tx.commit().await.map_err(db(ACTION))?;
            Ok(runs)
        })
    }

    /// The audit trail in the order it was recorded: of one run, or all of it.
    pub async fn audit_trail(&self, run_id: Option<&str>) -> Result<Vec<AuditEvent>, StoreError> {
        const ACTION: &str = "reading the audit trail";
        let id = match run_id {
            Some(text) => Some(Id::parse(text).ok_or_else(|| StoreError::RunNotFound {
                run_id: text.to_string(),
            })?),
            None => None,
        };
        on_backend!(self, |pool, _d| {
            let rows =
                match id {
                    Some(id) => sqlx::query(
                        "SELECT id, at, run_id, tenant, kind, subject, detail FROM audit_events \
                         WHERE run_id = $1 ORDER BY id",
                    )
                    .bind(id)
                    .fetch_all(pool)
                    .await,
                    None => sqlx::query(
                        "SELECT id, at, run_id, tenant, kind, subject, detail FROM audit_events \
                         ORDER BY id",
                    )
                    .fetch_all(pool)
                    .await,
                }
                .map_err(db(ACTION))?;
            rows.iter()
                .map(|row| {
                    Ok(AuditEvent {
                        id: col(row, "id")?,
                        at: col::<_, Ts>(row, "at")?.get(),
                        run_id: col::<_, Option<Id>>(row, "run_id")?.map(|id| id.to_string()),
                        tenant: col(row, "tenant")?,
                        kind: col(row, "kind")?,
                        subject: col(row, "subject")?,
                        detail: col::<_, Json<serde_json::Value>>(row, "detail")?.0,
                    })
                })
                .collect()
        })
    }

    /// How many meeting writes chaperone recorded for `host` of `tenant` on the UTC day `day`:
    /// the sessions of that host with at least one change applied that day, in runs that were not
    /// dry runs. Zoom allows about 100 meeting updates per host per day, and a run batches a
    /// session's changes into one write, so this is what a new run has left to spend. A session
    /// whose only changes were host-level settings is counted too: over-counting only stops early.
    /// Host emails compare without regard to case.
    pub async fn updates_today(
        &self,
        tenant: &str,
        host: &str,
        day_utc: NaiveDate,
    ) -> Result<u32, StoreError> {
        const ACTION: &str = "counting today's meeting updates";
        let from = Ts::new(day_utc.and_time(chrono::NaiveTime::MIN).and_utc());
        let until = Ts::new(from.get() + chrono::Duration::days(1));
        let n: i64 = on_backend!(self, |pool, _d| {
            let row = sqlx::query(
                "SELECT COUNT(DISTINCT s.id) AS n FROM changes c \
                 JOIN run_sessions s ON s.id = c.run_session_id \
                 JOIN runs r ON r.id = s.run_id \
                 WHERE c.applied_at >= $1 AND c.applied_at < $2 \
                   AND r.tenant = $3 AND LOWER(s.host_email) = LOWER($4) AND r.dry_run = $5",
            )
            .bind(from)
            .bind(until)
            .bind(tenant)
            .bind(host)
            .bind(false)
            .fetch_one(pool)
            .await
            .map_err(db(ACTION))?;
            col(&row, "n")?
        });
        count("update count", n)
    }
}

/// The start of the bulk insert of audit events; see [`push_events`].
const INSERT_EVENTS: &str = "INSERT INTO audit_events (at, run_id, tenant, kind, subject, detail) ";

/// Adds `events` as the VALUES of an [`INSERT_EVENTS`] statement. Rows of one statement get
/// increasing ids in the order given, which is the order of the trail.
fn push_events<DB>(insert: &mut QueryBuilder<DB>, run: Id, tenant: &str, events: &[NewEvent])
where
    DB: Database,
    for<'q> Ts: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Id: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: sqlx::Encode<'q, DB> + Type<DB>,
{
    insert.push_values(events, |mut b, e| {
        b.push_bind(e.at)
            .push_bind(run)
            .push_bind(tenant.to_string())
            .push_bind(e.kind.to_string())
            .push_bind(e.subject.clone())
            .push_bind(Json(e.detail.clone()));
    });
}

/// The tenant of a run that may still be written to, from its `run_state_for_write` row.
fn open_run_tenant<R>(row: Option<R>, run_id: &str) -> Result<String, StoreError>
where
    R: Row,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<Ts>: Decode<'r, R::Database> + Type<R::Database>,
    &'static str: ColumnIndex<R>,
{
    let row = row.ok_or_else(|| StoreError::RunNotFound {
        run_id: run_id.to_string(),
    })?;
    if let Some(finished) = col::<_, Option<Ts>>(&row, "finished_at")? {
        return Err(StoreError::RunFinished {
            run_id: run_id.to_string(),
            finished_at: finished.get(),
        });
    }
    col(&row, "tenant")
}

fn display_path(path: &Path) -> String {
    path.display().to_string()
}

/// A new holder name for leases and write intents: `hostname:pid:random`.
fn new_holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string());
    let random = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}:{}:{random}", std::process::id())
}

// Declared after `on_backend!` so they can use the macro: the notification outbox, write
// intents and writer leases.
pub mod intents;
pub mod leases;
mod outbox;
pub use outbox::{ReadyDigest, RepeatedDrift, StoredItem};
