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
//!
//! Where things are: `sql` (the dialect and shared helpers), `runs` (the run aggregate), `audit`
//! (the trail), `outbox`, `webhooks`, `intents`, `leases`, each a repository of its own tables;
//! this file opens the store and brings its schema up to date.

#[macro_use]
mod sql;
mod audit;
mod codec;
mod error;
pub mod events;
pub mod intents;
pub mod leases;
mod outbox;
mod runs;
pub mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlSafeStr};

pub use audit::AuditEvent;
pub use error::StoreError;
pub use outbox::{ReadyDigest, RepeatedDrift, StoredItem};
pub use runs::RunSummary;
use sql::{Backend, db};

/// How long a SQLite writer waits for another writer (a second chaperone process) before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
            .map_err(open_error(&target))?;
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
                Err(source) => return Err(migrate_error(&target)(source)),
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
            .map_err(open_error(&target))?;
        postgres_migrator()
            .run(&mut conn)
            .await
            .map_err(migrate_error(&target))?;
        // Closing politely only matters to the server's log; the pool below is what counts.
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(open_error(&target))?;
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
}

/// Maps a failure to open the store at `target` to [`StoreError::Open`].
fn open_error(target: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Open {
        target: target.to_string(),
        source,
    }
}

/// Maps a failure to migrate the store at `target` to [`StoreError::Migrate`].
fn migrate_error(target: &str) -> impl FnOnce(sqlx::migrate::MigrateError) -> StoreError {
    move |source| StoreError::Migrate {
        target: target.to_string(),
        source,
    }
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
