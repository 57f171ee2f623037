//! The notification outbox (migration 0003; docs/notifications.md).
//!
//! Why it is shaped like this:
//! - **Nothing lost.** A session's digest item is written in the same transaction as the session's
//!   findings and changes ([`Store::record_session_with_outbox`]): if the session is recorded, so
//!   is what its host must hear. Items become messages (one per host per run) in one transaction
//!   that also marks the items assembled, so a crash between the two leaves the items to assemble
//!   again, and the message's unique idempotency key makes the second assembly a no-op.
//! - **Nothing sent twice.** A worker claims one message with a lease (`UPDATE … RETURNING`; on
//!   PostgreSQL the row is picked `FOR UPDATE SKIP LOCKED`, so replicas never pick the same one)
//!   and marks it sent after the channel accepted it. A worker killed mid-send leaves a claim that
//!   expires, and the message is sent again with the same idempotency key (the email's
//!   `Message-ID`, the webhook's `Idempotency-Key`), which the receiver can use to drop the rare
//!   duplicate of a send that had completed just before the kill.
//! - **Each escalation once.** `escalations.key` is unique; an item whose key is already there is
//!   never escalated again.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, QueryBuilder, Type};

use super::codec::{Id, Ts};
use super::runs::parse_run_id;
use super::sql::{builder, col, count, db, parse_name};
use super::{Store, StoreError};
use crate::notify::{Channel, DigestItem, MessageKind, NewMessage, OutboxMessage};
use crate::report::SessionReport;

/// What a session adds to its host's digest, recorded with the session.
pub(super) struct PendingItem<'a> {
    pub host_key: String,
    pub item: Option<&'a DigestItem>,
    /// The host's last session of the run: their digest can be assembled.
    pub closes_host: bool,
}

pub(super) const INSERT_ITEM: &str =
    "INSERT INTO notify_items (run_id, tenant, host_key, item, closes_host, created_at) ";

/// Adds one notify item as the VALUES of an [`INSERT_ITEM`] statement.
pub(super) fn push_item<DB>(
    insert: &mut QueryBuilder<DB>,
    run: Id,
    tenant: &str,
    pending: &PendingItem<'_>,
    at: Ts,
) where
    DB: Database,
    for<'q> Ts: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Id: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + Type<DB>,
    for<'q> Option<Json<DigestItem>>: sqlx::Encode<'q, DB> + Type<DB>,
{
    insert.push_values(std::iter::once(pending), |mut b, p| {
        b.push_bind(run)
            .push_bind(tenant.to_string())
            .push_bind(p.host_key.clone())
            .push_bind(p.item.cloned().map(Json))
            .push_bind(p.closes_host)
            .push_bind(at);
    });
}

/// A digest item as stored, with its row id.
#[derive(Debug, Clone)]
pub struct StoredItem {
    pub id: i64,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    /// `None` for the marker row that only closes a host.
    pub item: Option<DigestItem>,
}

/// A (run, host) whose digest is ready to assemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyDigest {
    pub run_id: String,
    pub tenant: String,
    pub host_key: String,
    /// When the run started: the time its findings were judged at.
    pub run_started_at: DateTime<Utc>,
}

/// A host seen with drift in several runs, for the admin summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedDrift {
    pub host_email: String,
    pub runs: u32,
}

const OUTBOX_COLUMNS: &str = "id, idempotency_key, tenant, run_id, kind, channel, recipient, \
     subject, body_text, body_html, data, created_at, attempts, next_attempt_at, sent_at, \
     failed_at, last_error";

/// Claims the next due message: `$1` claimed until, `$2` now. On PostgreSQL the row is picked
/// `FOR UPDATE SKIP LOCKED` (see `sql::Dialect`), so replicas never claim the same one.
const CLAIM: &str = "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL \
       AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2) \
       ORDER BY next_attempt_at, id LIMIT 1{skip_locked}) \
     RETURNING id, idempotency_key, tenant, run_id, kind, channel, recipient, subject, body_text, \
       body_html, data, created_at, attempts, next_attempt_at, sent_at, failed_at, last_error";

const INSERT_MESSAGE: &str = "INSERT INTO outbox (idempotency_key, tenant, run_id, kind, channel, \
     recipient, subject, body_text, body_html, data, created_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
     ON CONFLICT (idempotency_key) DO NOTHING";

/// Inside [`on_backend!`]: queues `$messages` in the transaction `$tx`, created and due at `$at`
/// ([`INSERT_MESSAGE`]: one already queued under its idempotency key is left as it is).
macro_rules! insert_messages {
    ($tx:ident, $messages:expr, $at:expr, $action:expr) => {
        for m in $messages {
            let run = m.run_id.as_deref().and_then(Id::parse);
            sqlx::query(INSERT_MESSAGE)
                .bind(&m.idempotency_key)
                .bind(&m.tenant)
                .bind(run)
                .bind(m.kind.name())
                .bind(m.channel.name())
                .bind(&m.recipient)
                .bind(&m.subject)
                .bind(&m.body_text)
                .bind(m.body_html.as_deref())
                .bind(Json(&m.data))
                .bind($at)
                .execute(&mut *$tx)
                .await
                .map_err(db($action))?;
        }
    };
}

/// Reads an outbox row.
fn message<R>(row: &R) -> Result<OutboxMessage, StoreError>
where
    R: sqlx::Row,
    for<'r> i64: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<Id>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Ts: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<Ts>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Json<serde_json::Value>: sqlx::Decode<'r, R::Database> + Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let kind: MessageKind = parse_name("message kind", col(row, "kind")?)?;
    let channel: Channel = parse_name("message channel", col(row, "channel")?)?;
    Ok(OutboxMessage {
        id: col(row, "id")?,
        idempotency_key: col(row, "idempotency_key")?,
        tenant: col(row, "tenant")?,
        run_id: col::<_, Option<Id>>(row, "run_id")?.map(|id| id.to_string()),
        kind,
        channel,
        recipient: col(row, "recipient")?,
        subject: col(row, "subject")?,
        body_text: col(row, "body_text")?,
        body_html: col(row, "body_html")?,
        data: col::<_, Json<serde_json::Value>>(row, "data")?.0,
        created_at: col::<_, Ts>(row, "created_at")?.get(),
        attempts: count("attempts", i64::from(col::<_, i32>(row, "attempts")?))?,
        next_attempt_at: col::<_, Ts>(row, "next_attempt_at")?.get(),
        sent_at: col::<_, Option<Ts>>(row, "sent_at")?.map(Ts::get),
        failed_at: col::<_, Option<Ts>>(row, "failed_at")?.map(Ts::get),
        last_error: col(row, "last_error")?,
    })
}

impl Store {
    /// Records one session of a run like [`Store::record_session`], and in the same transaction
    /// what its host must hear: `item` (when there is something to tell) and, with `closes_host`,
    /// that this was the host's last session of the run, so their digest can go out now.
    pub async fn record_session_with_outbox(
        &self,
        run_id: &str,
        session: &SessionReport,
        item: Option<&DigestItem>,
        closes_host: bool,
    ) -> Result<(), StoreError> {
        let pending = (item.is_some() || closes_host).then(|| PendingItem {
            host_key: session.host_email.to_ascii_lowercase(),
            item,
            closes_host,
        });
        self.record_session_tx(run_id, session, Utc::now(), pending.as_ref(), None)
            .await
            .map(|_| ())
    }

    /// Digest items recorded in a run, in the order they were recorded (for `chaperone demo`).
    pub async fn digest_items(&self, run: &str) -> Result<Vec<DigestItem>, StoreError> {
        let id = parse_run_id(run)?;
        const ACTION: &str = "reading digest items";
        on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT item FROM notify_items WHERE run_id = $1 AND item IS NOT NULL ORDER BY id",
            )
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            rows.iter()
                .map(|r| Ok(col::<_, Json<DigestItem>>(r, "item")?.0))
                .collect()
        })
    }

    /// The (run, host) pairs whose digest can be assembled now: the host's last session is
    /// recorded, or the run finished, or the run is dead (unfinished, nothing recorded since
    /// `stale_before`). At most `limit`, oldest first.
    pub async fn ready_digests(
        &self,
        stale_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReadyDigest>, StoreError> {
        const ACTION: &str = "finding digests to assemble";
        let stale = Ts::new(stale_before);
        on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT i.run_id AS run_id, i.tenant AS tenant, i.host_key AS host_key, \
                   MIN(r.started_at) AS started_at, MIN(i.id) AS first_id \
                 FROM notify_items i JOIN runs r ON r.id = i.run_id \
                 WHERE NOT i.assembled AND ( \
                   r.finished_at IS NOT NULL \
                   OR EXISTS (SELECT 1 FROM notify_items c WHERE c.run_id = i.run_id \
                              AND c.host_key = i.host_key AND c.closes_host) \
                   OR (r.started_at < $1 AND NOT EXISTS (SELECT 1 FROM run_sessions s \
                       WHERE s.run_id = r.id AND s.recorded_at >= $1))) \
                 GROUP BY i.run_id, i.tenant, i.host_key ORDER BY first_id LIMIT $2",
            )
            .bind(stale)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            rows.iter()
                .map(|r| {
                    Ok(ReadyDigest {
                        run_id: col::<_, Id>(r, "run_id")?.to_string(),
                        tenant: col(r, "tenant")?,
                        host_key: col(r, "host_key")?,
                        run_started_at: col::<_, Ts>(r, "started_at")?.get(),
                    })
                })
                .collect()
        })
    }

    /// The unassembled items of one host in one run, in the order they were recorded.
    pub async fn digest_group(
        &self,
        run: &str,
        host_key: &str,
    ) -> Result<Vec<StoredItem>, StoreError> {
        let id = parse_run_id(run)?;
        const ACTION: &str = "reading a host's digest items";
        on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT id, tenant, item, created_at FROM notify_items \
                 WHERE run_id = $1 AND host_key = $2 AND NOT assembled ORDER BY id",
            )
            .bind(id)
            .bind(host_key)
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            rows.iter()
                .map(|r| {
                    Ok(StoredItem {
                        id: col(r, "id")?,
                        tenant: col(r, "tenant")?,
                        created_at: col::<_, Ts>(r, "created_at")?.get(),
                        item: col::<_, Option<Json<DigestItem>>>(r, "item")?.map(|j| j.0),
                    })
                })
                .collect()
        })
    }

    /// Whether the session was recorded again (by any later run of the tenant) after `after`:
    /// the newer run's judgement counts, so an item resolved meanwhile is not escalated.
    pub async fn session_recorded_since(
        &self,
        tenant: &str,
        platform: &str,
        session_id: &str,
        after: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "checking for a newer record of a session";
        on_backend!(self, |pool, _d| {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM run_sessions s JOIN runs r ON r.id = s.run_id \
                 WHERE r.tenant = $1 AND s.platform = $2 AND s.session_id = $3 \
                   AND s.recorded_at > $4",
            )
            .bind(tenant)
            .bind(platform)
            .bind(session_id)
            .bind(Ts::new(after))
            .fetch_one(pool)
            .await
            .map_err(db(ACTION))?;
            Ok(col::<_, i64>(&row, "n")? > 0)
        })
    }

    /// Which of `keys` were escalated already.
    pub async fn escalated(&self, keys: &[String]) -> Result<HashSet<String>, StoreError> {
        const ACTION: &str = "reading escalations";
        let mut found = HashSet::new();
        for key in keys {
            let n: i64 = on_backend!(self, |pool, _d| {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM escalations WHERE key = $1")
                    .bind(key)
                    .fetch_one(pool)
                    .await
                    .map_err(db(ACTION))?;
                col(&row, "n")?
            });
            if n > 0 {
                found.insert(key.clone());
            }
        }
        Ok(found)
    }

    /// Turns a host's items into messages in one transaction: records `escalation_keys` (each
    /// must be new), queues `messages` (a message whose idempotency key is already queued is left
    /// as it is), and marks the items up to `last_item` assembled. Returns `false`, writing
    /// nothing, when one of the escalation keys was recorded meanwhile (another worker): assemble
    /// the group again.
    pub async fn commit_digest(
        &self,
        ready: &ReadyDigest,
        last_item: i64,
        escalation_keys: &[String],
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let id = parse_run_id(&ready.run_id)?;
        let at = Ts::new(now);
        const ACTION: &str = "queueing a host's digest";
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write)
                .await
                .map_err(db(ACTION))?;
            for key in escalation_keys {
                let done = sqlx::query(
                    "INSERT INTO escalations (key, tenant, run_id, escalated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(&ready.tenant)
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?;
                if done.rows_affected() == 0 {
                    tx.rollback().await.map_err(db(ACTION))?;
                    return Ok(false);
                }
            }
            insert_messages!(tx, messages, at, ACTION);
            sqlx::query(
                "UPDATE notify_items SET assembled = $1 \
                 WHERE run_id = $2 AND host_key = $3 AND id <= $4 AND NOT assembled",
            )
            .bind(true)
            .bind(id)
            .bind(&ready.host_key)
            .bind(last_item)
            .execute(&mut *tx)
            .await
            .map_err(db(ACTION))?;
            tx.commit().await.map_err(db(ACTION))?;
            Ok(true)
        })
    }

    /// Queues messages (the admin summary). A message whose idempotency key is already queued
    /// is left as it is, so calling this twice for the same run queues nothing new.
    pub async fn enqueue(
        &self,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = Ts::new(now);
        const ACTION: &str = "queueing messages";
        on_backend!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write)
                .await
                .map_err(db(ACTION))?;
            insert_messages!(tx, messages, at, ACTION);
            tx.commit().await.map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// Claims the next message that is due, holding it until `lease_until`. `None` when nothing
    /// is due. The claim counts as an attempt.
    pub async fn claim_message(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<OutboxMessage>, StoreError> {
        const ACTION: &str = "claiming a message to send";
        let (now, until) = (Ts::new(now), Ts::new(lease_until));
        on_backend!(self, |pool, dialect| {
            sqlx::query(dialect.sql(CLAIM))
                .bind(until)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(db(ACTION))?
                .map(|r| message(&r))
                .transpose()
        })
    }

    /// Marks a claimed message sent: it is never sent again.
    pub async fn mark_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        const ACTION: &str = "marking a message sent";
        on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE outbox SET sent_at = $2, claimed_until = NULL, last_error = NULL \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(Ts::new(at))
            .execute(pool)
            .await
            .map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// Records a failed attempt: the message is tried again at `retry_at`, or given up
    /// (`failed_at`) when `give_up`. `error` must hold no secret (it is shown to admins).
    pub async fn mark_attempt_failed(
        &self,
        id: i64,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        error: &str,
        give_up: bool,
    ) -> Result<(), StoreError> {
        const ACTION: &str = "recording a failed delivery";
        on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE outbox SET claimed_until = NULL, next_attempt_at = $2, last_error = $3, \
                 failed_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(Ts::new(retry_at))
            .bind(error)
            .bind(give_up.then(|| Ts::new(now)))
            .execute(pool)
            .await
            .map_err(db(ACTION))?;
        });
        Ok(())
    }

    /// The outbox of one tenant (or all), oldest first: what was sent, what waits, what failed.
    pub async fn outbox_messages(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        const ACTION: &str = "listing the outbox";
        on_backend!(self, |pool, _d| {
            let mut q = builder(pool, "SELECT ");
            q.push(OUTBOX_COLUMNS).push(" FROM outbox");
            if let Some(t) = tenant {
                q.push(" WHERE tenant = ").push_bind(t.to_string());
            }
            q.push(" ORDER BY id");
            let rows = q.build().fetch_all(pool).await.map_err(db(ACTION))?;
            rows.iter().map(message).collect()
        })
    }

    /// Hosts of `tenant` whose sessions had drift (fixed or not) in at least `min_runs` runs
    /// started since `since` (sweeps and webhook runs that wrote, not checks or dry runs), most
    /// runs first.
    pub async fn hosts_with_repeated_drift(
        &self,
        tenant: &str,
        since: DateTime<Utc>,
        min_runs: u32,
    ) -> Result<Vec<RepeatedDrift>, StoreError> {
        const ACTION: &str = "finding hosts with repeated drift";
        on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT LOWER(s.host_email) AS host, COUNT(DISTINCT s.run_id) AS runs \
                 FROM findings f JOIN run_sessions s ON s.id = f.run_session_id \
                 JOIN runs r ON r.id = s.run_id \
                 WHERE r.tenant = $1 AND r.started_at >= $2 AND r.kind <> 'check' \
                   AND r.dry_run = $3 AND f.status IN ('drift', 'fixed') \
                 GROUP BY LOWER(s.host_email) HAVING COUNT(DISTINCT s.run_id) >= $4 \
                 ORDER BY runs DESC, host",
            )
            .bind(tenant)
            .bind(Ts::new(since))
            .bind(false)
            .bind(i64::from(min_runs))
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            rows.iter()
                .map(|r| {
                    Ok(RepeatedDrift {
                        host_email: col(r, "host")?,
                        runs: count("run count", col(r, "runs")?)?,
                    })
                })
                .collect()
        })
    }
}
