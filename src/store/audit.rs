//! The audit trail's repository: the one bulk insert every write uses for its events (so they
//! are committed with what they describe) and the reader behind `chaperone report --audit`.
//! What the events say is in `events`; the triggers that make the table append-only are in the
//! migrations.

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Database, QueryBuilder, Type};

use chrono::{DateTime, Utc};

use super::codec::{Id, Ts};
use super::events::NewEvent;
use super::runs::parse_run_id;
use super::sql::{builder, col, db};
use super::{Store, StoreError};

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

impl Store {
    /// The audit trail in the order it was recorded: of one run, or all of it.
    pub async fn audit_trail(&self, run_id: Option<&str>) -> Result<Vec<AuditEvent>, StoreError> {
        const ACTION: &str = "reading the audit trail";
        let id = match run_id {
            Some(text) => Some(parse_run_id(text)?),
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
}

/// The start of the bulk insert of audit events; see [`insert_events`].
const INSERT_EVENTS: &str = "INSERT INTO audit_events (at, run_id, tenant, kind, subject, detail) ";

/// The statement that appends `events` of run `run` to the trail, to execute in the transaction
/// that writes what they describe. Rows of one statement get increasing ids in the order given,
/// which is the order of the trail. `events` must not be empty.
pub(super) fn insert_events<DB>(
    pool: &sqlx::Pool<DB>,
    run: Id,
    tenant: &str,
    events: &[NewEvent],
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'q> Ts: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Id: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Json<serde_json::Value>: sqlx::Encode<'q, DB> + Type<DB>,
{
    let mut insert = builder(pool, INSERT_EVENTS);
    insert.push_values(events, |mut b, e| {
        b.push_bind(e.at)
            .push_bind(run)
            .push_bind(tenant.to_string())
            .push_bind(e.kind.to_string())
            .push_bind(e.subject.clone())
            .push_bind(Json(e.detail.clone()));
    });
    insert
}
