//! The stores a test runs against: SQLite in a temp dir always, PostgreSQL in a fresh schema of
//! its own when a server is configured (skipped loudly, or failed in CI: see requires.rs), so the
//! tests run in parallel without seeing each other's rows. Included by path beside `requires`.
#![allow(dead_code)]

use chaperone::store::Store;
use sqlx::Connection;

use crate::requires;

/// A fresh PostgreSQL schema, and the URL that points a store at it.
pub struct PgSchema {
    /// The server's URL with `search_path` set to the schema.
    pub url: String,
    base: String,
    schema: String,
}

impl PgSchema {
    /// Creates `{prefix}_<uuid>` for `test`; `None` (after [`requires::missing`]) when no server
    /// is configured.
    pub async fn create(test: &str, prefix: &str) -> Option<PgSchema> {
        let base = requires::postgres_url(test)?;
        let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin(&base).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create a schema for the test");
        admin.close().await.expect("close the admin connection");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(PgSchema { url, base, schema })
    }

    /// Drops the schema and all in it (call it only when the test passed: a failed test leaves
    /// its schema to look at).
    pub async fn drop_schema(self) {
        let mut admin = admin(&self.base).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.schema
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test schema");
    }
}

async fn admin(base: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(base)
        .await
        .expect("connect to CHAPERONE_TEST_PG_URL")
}

/// A store under test and the backend it runs on (`sqlite` or `postgres`).
pub struct TestStore {
    pub store: Store,
    pub backend: &'static str,
    /// Keeps the SQLite file alive for the test.
    _dir: Option<tempfile::TempDir>,
}

/// A SQLite store (`sqlite_file` in a temp dir) always, and a PostgreSQL store in a fresh schema
/// `{pg_prefix}_<uuid>` when a server is configured (`test` names the skip).
pub async fn stores(test: &str, sqlite_file: &str, pg_prefix: &str) -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("a temp dir for the test database");
    let sqlite = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join(sqlite_file).display()
    ))
    .await
    .expect("open a SQLite store");
    let mut out = vec![TestStore {
        store: sqlite,
        backend: "sqlite",
        _dir: Some(dir),
    }];
    if let Some(pg) = PgSchema::create(test, pg_prefix).await {
        out.push(TestStore {
            store: Store::connect(&pg.url)
                .await
                .expect("open a PostgreSQL store"),
            backend: "postgres",
            _dir: None,
        });
    }
    out
}
