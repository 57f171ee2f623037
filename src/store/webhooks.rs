//! Webhook events: written before the platform gets its 200, processed from here by a worker.
//!
//! Why it is shaped like this:
//! - **Persist, then answer.** [`Store::receive_webhook_event`] commits the raw body before the
//!   HTTP handler answers, so a crash after the 200 loses nothing: the next process finds the row
//!   `pending` and processes it.
//! - **Seen once.** The dedupe key (hex SHA-256 of the raw body) is unique per tenant and platform:
//!   a replay, or the platform retrying a delivery whose 200 it never saw, inserts nothing.
//! - **Claimed once.** A worker claims a row with one `UPDATE … RETURNING` (SQLite serialises
//!   writers) or `FOR UPDATE SKIP LOCKED` (PostgreSQL, several replicas), so no two workers
//!   process the same event. A claim is a short lease renewed while the event is processed: a
//!   row left `processing` by a process that died is claimed again once the lease has run out
//!   (`taken_over_from` then names the previous holder). Processing is idempotent (it reads the session
//!   again and writes only what still drifts), so a retried claim never loosens or repeats a fix.
//! - **One session at a time.** An event is not claimed while another event about the same
//!   object (meeting, user) is being processed, so two workers never write the same meeting.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::codec::{Id, Ts};
use super::sql::{col, count, db};
use super::{Store, StoreError};
use crate::report::RunKind;

/// Where an event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Received and stored; waiting for a worker.
    Pending,
    /// Claimed by a worker (or left by a process that died: claimed again after the lease).
    Processing,
    /// Processed; `outcome` says how.
    Done,
    /// Given up after repeated errors; `outcome` has the last error.
    Failed,
}

impl EventState {
    pub fn name(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Processing => "processing",
            EventState::Done => "done",
            EventState::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Result<EventState, StoreError> {
        Ok(match name {
            "pending" => EventState::Pending,
            "processing" => EventState::Processing,
            "done" => EventState::Done,
            "failed" => EventState::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "webhook event state".into(),
                    detail: format!("unknown state `{other}`"),
                });
            }
        })
    }
}

/// A verified event to store.
#[derive(Debug, Clone)]
pub struct NewWebhookEvent<'a> {
    pub tenant: &'a str,
    /// `zoom`, ...
    pub platform: &'a str,
    /// Equal for deliveries that are the same event (hex SHA-256 of the raw body).
    pub dedupe_key: &'a str,
    /// The platform's event name, e.g. `meeting.created`.
    pub event: &'a str,
    /// The meeting, user, group or account the event is about.
    pub object_id: Option<&'a str>,
    pub received_at: DateTime<Utc>,
    /// The raw body as received.
    pub payload: &'a str,
}

/// What storing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Stored for the first time: a worker will process it.
    New { id: i64 },
    /// Already stored (a replay or a retried delivery): nothing more happens.
    Duplicate { id: i64 },
}

/// A stored event, as a worker or a report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: i64,
    pub tenant: String,
    pub platform: String,
    pub event: String,
    pub object_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub payload: String,
    pub state: EventState,
    /// Claims so far, this one included.
    pub attempts: u32,
    pub outcome: Option<String>,
    /// The run that evaluated the event's session(s), when one did.
    pub run_id: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Set when this claim took the event over from a claim that had run out: the worker that
    /// held it then (its process died, or stopped renewing).
    pub taken_over_from: Option<String>,
}

const COLUMNS: &str = "id, tenant, platform, event, object_id, received_at, payload, state, \
                       attempts, outcome, run_id, finished_at, taken_over_from";

fn event_of<R>(row: &R) -> Result<WebhookEvent, StoreError>
where
    R: Row,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Ts: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Ts>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Id>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'static str: sqlx::ColumnIndex<R>,
{
    let state: String = col(row, "state")?;
    let attempts: i32 = col(row, "attempts")?;
    Ok(WebhookEvent {
        id: col(row, "id")?,
        tenant: col(row, "tenant")?,
        platform: col(row, "platform")?,
        event: col(row, "event")?,
        object_id: col(row, "object_id")?,
        received_at: col::<_, Ts>(row, "received_at")?.get(),
        payload: col(row, "payload")?,
        state: EventState::parse(&state)?,
        attempts: count("webhook event attempts", i64::from(attempts))?,
        outcome: col(row, "outcome")?,
        run_id: col::<_, Option<Id>>(row, "run_id")?.map(|id| id.to_string()),
        finished_at: col::<_, Option<Ts>>(row, "finished_at")?.map(Ts::get),
        taken_over_from: col(row, "taken_over_from")?,
    })
}

/// The claim statement: the oldest claimable event whose object nobody is working on. `$1`
/// worker, `$2` now, `$3` the oldest claim still inside its lease. On PostgreSQL the event is
/// picked `FOR UPDATE SKIP LOCKED` (see `sql::Dialect`), so replicas never claim the same one.
const CLAIM: &str = "UPDATE webhook_events \
     SET taken_over_from = CASE WHEN state = 'processing' THEN claimed_by ELSE NULL END, \
       state = 'processing', claimed_by = $1, claimed_at = $2, attempts = attempts + 1 \
     WHERE id = (SELECT e.id FROM webhook_events e \
       WHERE ((e.state = 'pending' AND e.available_at <= $2) \
              OR (e.state = 'processing' AND e.claimed_at < $3)) \
         AND NOT EXISTS (SELECT 1 FROM webhook_events p \
              WHERE p.state = 'processing' AND p.claimed_at >= $3 AND p.id <> e.id \
                AND p.tenant = e.tenant AND p.object_id = e.object_id) \
       ORDER BY e.id LIMIT 1{skip_locked}) \
     RETURNING id, tenant, platform, event, object_id, received_at, payload, state, \
       attempts, outcome, run_id, finished_at, taken_over_from";

impl Store {
    /// Stores a verified event unless the same event (same dedupe key) is already stored.
    /// Committed before this returns: only then may the platform be told 200.
    pub async fn receive_webhook_event(
        &self,
        event: &NewWebhookEvent<'_>,
    ) -> Result<Received, StoreError> {
        const ACTION: &str = "storing a webhook event";
        let at = Ts::new(event.received_at);
        on_backend!(self, |pool, _d| {
            let inserted = sqlx::query(
                "INSERT INTO webhook_events (tenant, platform, dedupe_key, event, object_id, \
                 received_at, payload, state, attempts, available_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $6) \
                 ON CONFLICT (tenant, platform, dedupe_key) DO NOTHING RETURNING id",
            )
            .bind(event.tenant)
            .bind(event.platform)
            .bind(event.dedupe_key)
            .bind(event.event)
            .bind(event.object_id)
            .bind(at)
            .bind(event.payload)
            .fetch_optional(pool)
            .await
            .map_err(db(ACTION))?;
            if let Some(row) = inserted {
                return Ok(Received::New {
                    id: col(&row, "id")?,
                });
            }
            let row = sqlx::query(
                "SELECT id FROM webhook_events \
                 WHERE tenant = $1 AND platform = $2 AND dedupe_key = $3",
            )
            .bind(event.tenant)
            .bind(event.platform)
            .bind(event.dedupe_key)
            .fetch_one(pool)
            .await
            .map_err(db(ACTION))?;
            Ok(Received::Duplicate {
                id: col(&row, "id")?,
            })
        })
    }

    /// Claims the oldest event that is due, for `worker`, until `now + lease`. `None` when there
    /// is nothing to do.
    pub async fn claim_webhook_event(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<WebhookEvent>, StoreError> {
        const ACTION: &str = "claiming a webhook event";
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
        let now_ts = Ts::new(now);
        let lease_start = Ts::new(now - lease);
        on_backend!(self, |pool, dialect| {
            let row = sqlx::query(dialect.sql(CLAIM))
                .bind(worker)
                .bind(now_ts)
                .bind(lease_start)
                .fetch_optional(pool)
                .await
                .map_err(db(ACTION))?;
            row.map(|r| event_of(&r)).transpose()
        })
    }

    /// Ends at once the claims of workers whose process is known to be dead (a process on this
    /// machine that is no longer running, see `leases::holder_is_dead`), so the next claim takes
    /// their events over now instead of after the lease. Returns how many claims were ended.
    pub async fn expire_orphaned_claims(&self) -> Result<u32, StoreError> {
        const ACTION: &str = "ending the claims of stopped processes";
        let rows: Vec<(i64, String)> = on_backend!(self, |pool, _d| {
            let rows = sqlx::query(
                "SELECT id, claimed_by FROM webhook_events \
                 WHERE state = 'processing' AND claimed_by IS NOT NULL",
            )
            .fetch_all(pool)
            .await
            .map_err(db(ACTION))?;
            rows.iter()
                .map(|r| Ok((col(r, "id")?, col(r, "claimed_by")?)))
                .collect::<Result<_, StoreError>>()?
        });
        let long_ago = Ts::new(DateTime::<Utc>::UNIX_EPOCH);
        let mut ended = 0;
        for (id, worker) in rows {
            let holder = worker.rsplit_once('/').map_or(worker.as_str(), |(h, _)| h);
            if !super::leases::holder_is_dead(holder) {
                continue;
            }
            let n = on_backend!(self, |pool, _d| {
                sqlx::query(
                    "UPDATE webhook_events SET claimed_at = $3 \
                     WHERE id = $1 AND claimed_by = $2 AND state = 'processing'",
                )
                .bind(id)
                .bind(worker.as_str())
                .bind(long_ago)
                .execute(pool)
                .await
                .map_err(db(ACTION))?
                .rows_affected()
            });
            ended += u32::try_from(n).unwrap_or(0);
        }
        Ok(ended)
    }

    /// Renews `worker`'s claim on event `id` as of `now` while it is being processed, so a claim
    /// is orphaned only when its worker stops renewing it. False when the claim was lost.
    pub async fn renew_webhook_claim(
        &self,
        id: i64,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "renewing a webhook event claim";
        let changed = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE webhook_events SET claimed_at = $3 \
                 WHERE id = $1 AND claimed_by = $2 AND state = 'processing'",
            )
            .bind(id)
            .bind(worker)
            .bind(Ts::new(now))
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Ends `worker`'s claim on event `id` as done or failed, with how it went and the run that
    /// evaluated it. False when the claim was lost (the lease ran out and another worker took it).
    pub async fn finish_webhook_event(
        &self,
        id: i64,
        worker: &str,
        state: EventState,
        outcome: &str,
        run_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "finishing a webhook event";
        let run = run_id.and_then(Id::parse);
        let at = Ts::new(at);
        let changed = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE webhook_events SET state = $3, outcome = $4, run_id = $5, \
                 finished_at = $6 WHERE id = $1 AND claimed_by = $2 AND state = 'processing'",
            )
            .bind(id)
            .bind(worker)
            .bind(state.name())
            .bind(outcome)
            .bind(run)
            .bind(at)
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Puts a claimed event back to wait until `retry_at`. `attempted`: the claim counts as an
    /// attempt (a platform error that may pass); false when the event only had to wait its turn
    /// (the tenant was busy with a sweep), so a long sweep never exhausts its attempts.
    pub async fn release_webhook_event(
        &self,
        id: i64,
        worker: &str,
        outcome: &str,
        retry_at: DateTime<Utc>,
        attempted: bool,
    ) -> Result<bool, StoreError> {
        const ACTION: &str = "releasing a webhook event";
        let at = Ts::new(retry_at);
        let uncount: i32 = if attempted { 0 } else { 1 };
        let changed = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE webhook_events SET state = 'pending', outcome = $3, available_at = $4, \
                 claimed_by = NULL, claimed_at = NULL, attempts = attempts - $5 \
                 WHERE id = $1 AND claimed_by = $2 AND state = 'processing'",
            )
            .bind(id)
            .bind(worker)
            .bind(outcome)
            .bind(at)
            .bind(uncount)
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Puts back an event that a worker of process `instance` claimed and abandoned at shutdown,
    /// so the next process takes it at once instead of after the lease. The abandoned claim does
    /// not count as an attempt.
    pub async fn requeue_abandoned(&self, id: i64, instance: &str) -> Result<bool, StoreError> {
        const ACTION: &str = "putting back an abandoned webhook event";
        let pattern = format!("{instance}/%");
        let changed = on_backend!(self, |pool, _d| {
            sqlx::query(
                "UPDATE webhook_events SET state = 'pending', claimed_by = NULL, \
                 claimed_at = NULL, attempts = attempts - 1 \
                 WHERE id = $1 AND state = 'processing' AND claimed_by LIKE $2",
            )
            .bind(id)
            .bind(pattern.as_str())
            .execute(pool)
            .await
            .map_err(db(ACTION))?
            .rows_affected()
        });
        Ok(changed == 1)
    }

    /// Stored events, oldest first: of one tenant, or all.
    pub async fn webhook_events(
        &self,
        tenant: Option<&str>,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        const ACTION: &str = "listing webhook events";
        on_backend!(self, |pool, _d| {
            let rows = match tenant {
                Some(t) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM webhook_events WHERE tenant = $1 ORDER BY id"
                    )))
                    .bind(t)
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM webhook_events ORDER BY id"
                    )))
                    .fetch_all(pool)
                    .await
                }
            }
            .map_err(db(ACTION))?;
            rows.iter().map(event_of).collect()
        })
    }

    /// Events not yet finished (pending or being processed): the queue's depth.
    pub async fn webhook_backlog(&self) -> Result<u32, StoreError> {
        const ACTION: &str = "counting waiting webhook events";
        let n: i64 = on_backend!(self, |pool, _d| {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM webhook_events WHERE state IN ('pending', 'processing')",
            )
            .fetch_one(pool)
            .await
            .map_err(db(ACTION))?;
            col(&row, "n")?
        });
        count("webhook backlog", n)
    }

    /// When the latest run of `kind` for `tenant` started, dry runs left out. The scheduler uses
    /// it to run a fire that was missed while the process was down.
    pub async fn last_run_started(
        &self,
        tenant: &str,
        kind: RunKind,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        const ACTION: &str = "finding the latest run";
        on_backend!(self, |pool, _d| {
            let row = sqlx::query(
                "SELECT started_at FROM runs WHERE tenant = $1 AND kind = $2 AND dry_run = $3 \
                 ORDER BY started_at DESC LIMIT 1",
            )
            .bind(tenant)
            .bind(kind.name())
            .bind(false)
            .fetch_optional(pool)
            .await
            .map_err(db(ACTION))?;
            match row {
                Some(r) => Ok(Some(col::<_, Ts>(&r, "started_at")?.get())),
                None => Ok(None),
            }
        })
    }
}
