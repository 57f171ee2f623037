//! The run aggregate: a run, its sessions with their findings and changes, its collect failures
//! and rates. Started, recorded session by session (each in its own transaction, with its audit
//! events and, for `record_session_with_outbox`, its notify item), finished once; loaded and
//! listed for `chaperone report`; and counted per host and day for Zoom's daily update limit.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::audit::insert_events;
use super::codec::{Id, Ts};
use super::events::{self, NewEvent};
use super::sql::{builder, col, count, db, parse_name};
use super::{Store, StoreError, intents, outbox};
use crate::control::Status;
use crate::platform::CollectFailure;
use crate::report::{ChangeRecord, Finding, RunKind, RunReport, SCHEMA_VERSION, SessionReport};
use crate::session::Lock;

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
            sqlx::query($dialect.sql(RUN_STATE_FOR_WRITE))
                .bind($id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db($action))?,
            $run_id,
        )?;
        (tx, tenant)
    }};
}

/// Inside [`on_backend!`]: appends `$events` of run `$run` to the audit trail in `$tx` and
/// commits, so the trail says what the transaction wrote exactly when it is written.
macro_rules! commit_with_events {
    ($pool:ident, $tx:ident, $run:expr, $tenant:expr, $events:expr, $action:expr) => {
        insert_events($pool, $run, $tenant, $events)
            .build()
            .execute(&mut *$tx)
            .await
            .map_err(db($action))?;
        $tx.commit().await.map_err(db($action))?;
    };
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

impl Store {
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
            commit_with_events!(
                pool,
                tx,
                id,
                tenant,
                std::slice::from_ref(&event),
                "starting a run"
            );
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
    pub(super) async fn record_session_tx(
        &self,
        run_id: &str,
        session: &SessionReport,
        recorded_at: DateTime<Utc>,
        notify: Option<&outbox::PendingItem<'_>>,
        closing: Option<&intents::Closing<'_>>,
    ) -> Result<bool, StoreError> {
        let id = parse_run_id(run_id)?;
        let at = Ts::new(recorded_at);
        let mut session_events = events::session_recorded(session, at);
        if let Some(c) = closing {
            session_events.push(c.event.clone());
        }
        const ACTION: &str = "recording a session";
        on_backend!(self, |pool, dialect| {
            let (mut tx, tenant) = begin_run_write!(pool, dialect, id, run_id, ACTION);
            let closed = match closing {
                Some(c) => sqlx::query(intents::CLOSE_BY_ID)
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
            insert_events(pool, id, &tenant, &session_events)
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db(ACTION))?;
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
        let id = parse_run_id(run_id)?;
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
            commit_with_events!(pool, tx, id, &tenant, &failure_events, ACTION);
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
        let id = parse_run_id(run_id)?;
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
            commit_with_events!(pool, tx, id, &tenant, std::slice::from_ref(&event), ACTION);
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
        let id = parse_run_id(run_id)?;
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
        let id = parse_run_id(run_id)?;
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

fn run_kind(name: String) -> Result<RunKind, StoreError> {
    parse_name("run kind", name)
}

/// Reads a run's state before writing into it; on PostgreSQL it holds the row so `finish_run`
/// cannot slip in between, while sessions of one run can still be recorded in parallel.
const RUN_STATE_FOR_WRITE: &str = "SELECT tenant, finished_at FROM runs WHERE id = $1{for_share}";

/// A run id as stored; a text that is no UUID names no run.
pub(super) fn parse_run_id(text: &str) -> Result<Id, StoreError> {
    Id::parse(text).ok_or_else(|| StoreError::RunNotFound {
        run_id: text.to_string(),
    })
}

/// The tenant of a run that may still be written to, from its [`RUN_STATE_FOR_WRITE`] row.
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
