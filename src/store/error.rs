//! What can go wrong in the store, in one enum: every repository returns it, and each message
//! says what to do about it.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

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
