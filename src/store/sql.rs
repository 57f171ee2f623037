//! What every repository shares: the pool of either backend, the few places where SQLite and
//! PostgreSQL differ ([`Dialect`]), the macro that compiles a method body once per backend, and
//! the helpers that turn sqlx errors and columns into [`StoreError`]s. A query is written once;
//! where the backends differ, the difference is a field of the dialect, not a second query.

use serde::de::DeserializeOwned;
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{AssertSqlSafe, ColumnIndex, Database, Decode, QueryBuilder, Row, Type};

use super::StoreError;

/// The pool of the backend the store URL named.
#[derive(Clone)]
pub(super) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Where SQLite and PostgreSQL differ. Queries are written once, with `{for_share}` and
/// `{skip_locked}` where a row lock goes; [`Dialect::sql`] puts in this backend's words.
pub(super) struct Dialect {
    /// Begins a transaction that will write. SQLite takes the write lock at once, so two writers
    /// wait for each other (busy_timeout) instead of failing when a reader upgrades.
    pub(super) begin_write: &'static str,
    /// Begins a transaction that only reads, seeing one consistent snapshot.
    pub(super) begin_read: &'static str,
    /// Ends a `SELECT` whose rows must not change until the write transaction commits, while
    /// other writers may still read them (PostgreSQL `FOR SHARE`). SQLite needs nothing: the
    /// write transaction already holds the whole database.
    for_share: &'static str,
    /// Ends the `SELECT` that picks a row to claim, so replicas never pick the same row
    /// (PostgreSQL `FOR UPDATE SKIP LOCKED`). SQLite needs nothing: one writer at a time.
    skip_locked: &'static str,
}

pub(super) const SQLITE: Dialect = Dialect {
    begin_write: "BEGIN IMMEDIATE",
    begin_read: "BEGIN",
    for_share: "",
    skip_locked: "",
};

pub(super) const POSTGRES: Dialect = Dialect {
    begin_write: "BEGIN",
    begin_read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    for_share: " FOR SHARE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
};

impl Dialect {
    /// `sql` for this backend: `{for_share}` and `{skip_locked}` replaced by its row-lock words.
    /// Only the store's own constant statements come here, never input, so the text is safe.
    pub(super) fn sql(&self, sql: &'static str) -> AssertSqlSafe<String> {
        AssertSqlSafe(
            sql.replace("{for_share}", self.for_share)
                .replace("{skip_locked}", self.skip_locked),
        )
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$dialect` to its [`Dialect`]; the body
/// is compiled once per backend, so the same sqlx calls serve both.
macro_rules! on_backend {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::sql::Backend::Sqlite($pool) => {
                let $dialect = &$crate::store::sql::SQLITE;
                let _ = $dialect;
                $body
            }
            $crate::store::sql::Backend::Postgres($pool) => {
                let $dialect = &$crate::store::sql::POSTGRES;
                let _ = $dialect;
                $body
            }
        }
    };
}

/// Starts a bulk statement whose database type is the pool's.
pub(super) fn builder<DB: Database>(_pool: &sqlx::Pool<DB>, init: &str) -> QueryBuilder<DB>
where
    DB::Arguments: Default,
{
    QueryBuilder::new(init)
}

/// Maps a sqlx error to [`StoreError::Database`] saying what the store was doing.
pub(super) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { action, source }
}

/// Reads one column, treating a missing column or an undecodable value as corrupt data.
pub(super) fn col<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, StoreError>
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
pub(super) fn parse_name<T: DeserializeOwned>(
    what: &'static str,
    name: String,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
        StoreError::Corrupt {
            what: what.to_string(),
            detail: format!("unknown name `{name}`"),
        }
    })
}

/// Reads a stored `COUNT(*)` as the `u32` the reports use, treating a negative or huge one as
/// corrupt data.
pub(super) fn count(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt {
        what: what.to_string(),
        detail: format!("count {n} out of range"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_statements_get_row_locks_and_sqlite_statements_none() {
        let claim = "SELECT id FROM t ORDER BY id LIMIT 1{skip_locked}";
        let run = "SELECT tenant FROM runs WHERE id = $1{for_share}";
        assert_eq!(SQLITE.sql(claim).0, "SELECT id FROM t ORDER BY id LIMIT 1");
        assert_eq!(
            POSTGRES.sql(claim).0,
            "SELECT id FROM t ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        );
        assert_eq!(SQLITE.sql(run).0, "SELECT tenant FROM runs WHERE id = $1");
        assert_eq!(
            POSTGRES.sql(run).0,
            "SELECT tenant FROM runs WHERE id = $1 FOR SHARE"
        );
    }
}
