//! Write intents (migration 0004): nothing lost between a write and its record.
//!
//! Why it is shaped like this:
//! - **Intent first.** Before a session is written on a platform, [`Store::open_write_intent`]
//!   commits what is about to happen: the tenant, platform, run, the session as it was read (to
//!   read it back later), the planned changes and the values before. Only then is the write sent.
//! - **Closed with the record.** The transaction that records the session's result closes the
//!   intent ([`Store::record_session_with_outbox`] closes its run's open intent for that session),
//!   so either both the record and the closing are kept, or neither.
//! - **Settled by the next writer.** An intent still open when the next writer of the tenant's
//!   platform starts (it holds the writer lease, so the process that opened it is gone) is a write
//!   that may have happened with no record: `crate::intents::settle_open` reads the session back
//!   and records it with [`Store::record_settled_intent`], closing the intent in that transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::audit::insert_events;
use super::codec::{Id, Ts};
use super::events::{self, NewEvent};
use super::outbox::PendingItem;
use super::runs::parse_run_id;
use super::sql::{col, db, parse_name};
use super::{Store, StoreError};
use crate::notify::DigestItem;
use crate::platform::Change;
use crate::report::SessionReport;
use crate::session::{PlatformKind, Session};

/// What is about to be written, recorded before the write is sent.
#[derive(Debug, Clone)]
pub struct NewIntent<'a> {
    pub tenant: &'a str,
    pub run_id: &'a str,
    /// The session as read before the write: enough to read it back.
    pub session: &'a Session,
    /// The name of the profile that planned the changes.
    pub profile: &'a str,
    pub changes: &'a [Change],
    /// Each planned control's value before the write, as the run observed it.
    pub before: BTreeMap<String, Option<String>>,
}

/// An intent that no record closed: its write may or may not have happened.
#[derive(Debug, Clone)]
pub struct OpenIntent {
    pub id: i64,
    pub tenant: String,
    pub platform: PlatformKind,
    /// The run that opened it (it may have died before it finished).
    pub run_id: String,
    /// The process that opened it ([`Store::holder`] of its store).
    pub holder: String,
    pub session_id: String,
    pub created_at: DateTime<Utc>,
    /// The session as read before the write; `Err` with the reason when it cannot be read back
    /// from the store (written by another version).
    pub session: Result<Session, String>,
    pub profile: String,
    /// The planned changes; `Err` with the reason when they cannot be read back.
    pub changes: Result<Vec<Change>, String>,
    pub before: serde_json::Value,
}

/// How an open intent was settled, for its audit event.
#[derive(Debug, Clone)]
pub struct Settlement<'a> {
    pub intent: &'a OpenIntent,
    /// `applied`, `not-applied`, `gone`, ... (the audit event's `outcome`).
    pub outcome: &'a str,
    /// In words, for the audit trail.
    pub detail: String,
}

impl Store {
    /// Records that a write is about to be sent, committed before this returns. Returns the
    /// intent's id. The intent stays open until the session's result is recorded. A session with
    /// an open intent already (another writer is changing it, or a stopped process's write is not
    /// yet settled) is [`StoreError::SessionBeingWritten`]: the caller must not write it.
    pub async fn open_write_intent(&self, intent: &NewIntent<'_>) -> Result<i64, StoreError> {
        const ACTION: &str = "recording a write intent";
        let run = parse_run_id(intent.run_id)?;
        let session = serde_json::to_value(intent.session).map_err(|e| StoreError::Corrupt {
            what: "write intent session".into(),
            detail: e.to_string(),
        })?;
        let changes = serde_json::to_value(intent.changes).map_err(|e| StoreError::Corrupt {
            what: "write intent changes".into(),
            detail: e.to_string(),
        })?;
        let before = serde_json::to_value(&intent.before).unwrap_or_default();
        let at = Ts::new(Utc::now());
        on_backend!(self, |pool, _d| {
            let inserted = sqlx::query(
                "INSERT INTO write_intents (tenant, platform, run_id, holder, session_id, session, \
                 profile, changes, \"before\", created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(intent.tenant)
            .bind(intent.session.platform.name())
            .bind(run)
            .bind(self.holder())
            .bind(&intent.session.id)
            .bind(Json(session))
            .bind(intent.profile)
            .bind(Json(changes))
            .bind(Json(before))
            .bind(at)
            .fetch_one(pool)
            .await;
            match inserted {
                Ok(row) => col(&row, "id"),
                // Another open intent for the session (migration 0005): another writer is on it.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    let other = sqlx::query(
                        "SELECT holder, created_at FROM write_intents WHERE tenant = $1 \
                         AND platform = $2 AND session_id = $3 AND closed_at IS NULL",
                    )
                    .bind(intent.tenant)
                    .bind(intent.session.platform.name())
                    .bind(&intent.session.id)
                    .fetch_optional(pool)
                    .await
                    .map_err(db(ACTION))?;
                    let (holder, since) = match other {
                        Some(r) => (
                            col::<_, String>(&r, "holder")?,
                            col::<_, Ts>(&r, "created_at")?
                                .get()
                                .format("%Y-%m-%d %H:%M:%S UTC")
                                .to_string(),
                        ),
                        None => ("another writer".to_string(), "just now".to_string()),
                    };
                    Err(StoreError::SessionBeingWritten {
                        subject: format!(
                            "{}:{}",
                            intent.session.platform.name(),
                            intent.session.id
                        ),
                        holder,
                        since,
                    })
                }
                Err(e) => Err(db(ACTION)(e)),
            }
        })
    }

    /// The open intents of a tenant's platform, oldest first.
    pub async fn open_write_intents(
        &self,
        tenant: &str,
        platform: PlatformKind,
    ) -> Result<Vec<OpenIntent>, StoreError> {
        const ACTION: &str = "reading open write intents";
        on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT id, tenant, platform, run_id, holder, session_id, session, profile, \
                 changes, \"before\" AS before_value, created_at FROM write_intents \
                 WHERE tenant = $1 AND platform = $2 AND closed_at IS NULL ORDER BY id",
            )
            .bind(tenant)
            .bind(platform.name())
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            let mut open = Vec::with_capacity(rows.len());
            for row in &rows {
                let session: Json<serde_json::Value> = col(row, "session")?;
                let changes: Json<serde_json::Value> = col(row, "changes")?;
                let before: Json<serde_json::Value> = col(row, "before_value")?;
                open.push(OpenIntent {
                    id: col(row, "id")?,
                    tenant: col(row, "tenant")?,
                    platform: parse_name("platform", col(row, "platform")?)?,
                    run_id: col::<_, Id>(row, "run_id")?.to_string(),
                    holder: col(row, "holder")?,
                    session_id: col(row, "session_id")?,
                    created_at: col::<_, Ts>(row, "created_at")?.get(),
                    session: serde_json::from_value(session.0).map_err(|e| e.to_string()),
                    profile: col(row, "profile")?,
                    changes: serde_json::from_value(changes.0).map_err(|e| e.to_string()),
                    before: before.0,
                });
            }
            Ok(open)
        })
    }

    /// Records a settled intent's session in `run_id` (the run that opened it, when it is still
    /// open), with an `intent.settled` audit event and the host's digest item, and closes the
    /// intent, all in one transaction. False when the intent was already closed (another process
    /// settled it first): nothing is recorded then.
    pub async fn record_settled_intent(
        &self,
        run_id: &str,
        session: &SessionReport,
        item: Option<&DigestItem>,
        settlement: &Settlement<'_>,
    ) -> Result<bool, StoreError> {
        // The host's digest for this run goes out with this item: the run that opened the intent
        // died before it could say it had finished with the host.
        let pending = PendingItem {
            host_key: session.host_email.to_ascii_lowercase(),
            item,
            closes_host: true,
        };
        let closing = Closing {
            id: settlement.intent.id,
            outcome: settlement.outcome,
            event: settled_event(settlement),
        };
        self.record_session_tx(run_id, session, Utc::now(), Some(&pending), Some(&closing))
            .await
    }

    /// Closes an intent without recording a session (its session cannot be read back from the
    /// store), with an `intent.settled` audit event in the intent's tenant. False when it was
    /// already closed.
    pub async fn close_write_intent(
        &self,
        settlement: &Settlement<'_>,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "closing a write intent";
        let intent = settlement.intent;
        let event = settled_event(settlement);
        let at = Ts::new(Utc::now());
        let run = Id::parse(&intent.run_id);
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write)
                .await
                .map_err(db(ACTION))?;
            let closed = sqlx::query(CLOSE_BY_ID)
                .bind(intent.id)
                .bind(at)
                .bind(settlement.outcome)
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?
                .rows_affected();
            if closed != 1 {
                return Ok(false);
            }
            if let Some(run) = run {
                insert_events(pool, run, &intent.tenant, std::slice::from_ref(&event))
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(db(ACTION))?;
            }
            tx.commit().await.map_err(db(ACTION))?;
            Ok(true)
        })
    }
}

/// Closes intent `$1` at `$2` with outcome `$3`, unless it is closed already (then no row
/// changes, and the caller leaves the other closer's record standing).
pub(super) const CLOSE_BY_ID: &str = "UPDATE write_intents SET closed_at = $2, outcome = $3 \
     WHERE id = $1 AND closed_at IS NULL";

/// An intent closed by the transaction that records its session.
pub(super) struct Closing<'a> {
    pub id: i64,
    pub outcome: &'a str,
    pub event: NewEvent,
}

fn settled_event(s: &Settlement<'_>) -> NewEvent {
    let intent = s.intent;
    NewEvent {
        at: Ts::new(Utc::now()),
        kind: events::kind::INTENT_SETTLED,
        subject: format!("{}:{}", intent.platform.name(), intent.session_id),
        detail: serde_json::json!({
            "intent": intent.id,
            "opened_by_run": intent.run_id,
            "opened_at": intent.created_at.to_rfc3339(),
            "holder": intent.holder,
            "profile": intent.profile,
            "before": intent.before,
            "outcome": s.outcome,
            "detail": s.detail,
        }),
    }
}
