//! The notifier: assembles recorded items into messages and delivers the outbox.
//!
//! One loop does both ([`Notifier::run`]); `chaperone notify deliver` runs it once or forever.
//! Several replicas may run it against one PostgreSQL store: claims are per message, with a lease.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use secrecy::ExposeSecret;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::channel::Channels;
use super::digest::{Escalated, by_host, render_escalation, render_host_digest};
use super::settings::{DeliverySettings, NotifySettings};
use super::{Channel, DigestItem, MessageKind, NewMessage, NotifyError, OutboxMessage};
use crate::report::RunReport;
use crate::settings::{Settings, TenantSettings};
use crate::store::{ReadyDigest, Store};

/// Test only: milliseconds the worker waits after claiming a message and before sending it, so
/// a test can kill the process mid-delivery. Never set it in production.
pub const TEST_DELAY_ENV: &str = "CHAPERONE_TEST_NOTIFY_DELAY_MS";

/// How many (run, host) groups one [`Notifier::assemble`] call takes on.
const ASSEMBLE_BATCH: u32 = 200;
/// How many messages one [`Notifier::deliver_due`] call sends at most, so the loop also assembles.
const DELIVER_BATCH: usize = 500;

struct Tenant {
    tz: Tz,
    /// `None`: the tenant has no `[tenants.notify]`, so notifications are off for it.
    channels: Option<Channels>,
}

/// What one [`Notifier::assemble`] call queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssembleStats {
    pub digests: usize,
    pub escalations: usize,
}

/// What one [`Notifier::deliver_due`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub sent: usize,
    /// Failed attempts that will be tried again.
    pub retrying: usize,
    /// Messages given up after their last attempt.
    pub given_up: usize,
}

/// Assembles and delivers the notifications of the configured tenants.
pub struct Notifier {
    store: Store,
    tenants: HashMap<String, Tenant>,
    delivery: DeliverySettings,
    test_delay: Option<Duration>,
}

impl Notifier {
    /// Builds the channels of every tenant. Settings that cannot work (an unknown webhook name,
    /// an address that is not one) are errors here, at start-up; a missing password variable is
    /// not: it is logged, and email waits in the outbox until it is set.
    pub fn new(store: Store, tenants: &[TenantSettings]) -> Result<Notifier, NotifyError> {
        let mut out = HashMap::new();
        let mut delivery: Option<DeliverySettings> = None;
        for t in tenants {
            let tz = t
                .timezone
                .parse::<Tz>()
                .map_err(|_| NotifyError::Settings {
                    tenant: t.id.clone(),
                    message: format!("unknown time zone `{}`", t.timezone),
                })?;
            let channels = match &t.notify {
                Some(n) => {
                    n.validate(&t.id)?;
                    delivery = Some(merge_delivery(delivery, &n.delivery));
                    Some(Channels::new(&t.id, n.clone()))
                }
                None => None,
            };
            out.insert(t.id.clone(), Tenant { tz, channels });
        }
        let test_delay = std::env::var(TEST_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis);
        if test_delay.is_some() {
            warn!(
                variable = TEST_DELAY_ENV,
                "a test delay slows down every delivery: unset it outside tests"
            );
        }
        Ok(Notifier {
            store,
            tenants: out,
            delivery: delivery.unwrap_or_default(),
            test_delay,
        })
    }

    /// Assembles, delivers what is due, and repeats every `poll_secs` until `shutdown` resolves.
    /// Store trouble is logged and retried on the next round: notifications never stop a sweep.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let poll = Duration::from_secs(self.delivery.poll_secs.max(1));
        loop {
            if let Err(e) = self.tick().await {
                error!(error = %e, "notifications: will try again");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One round: assemble what is ready, then deliver what is due.
    pub async fn tick(&self) -> Result<(AssembleStats, DeliveryStats), NotifyError> {
        let assembled = self.assemble(Utc::now()).await?;
        let delivered = self.deliver_due().await?;
        Ok((assembled, delivered))
    }

    /// Turns recorded items into messages: one digest per host per run, and escalations of
    /// `needs-human` items still open within their profile's escalation window at `now`.
    pub async fn assemble(&self, now: DateTime<Utc>) -> Result<AssembleStats, NotifyError> {
        let stale = now - chrono::Duration::minutes(self.delivery.stale_run_minutes as i64);
        let mut stats = AssembleStats::default();
        for ready in self.store.ready_digests(stale, ASSEMBLE_BATCH).await? {
            let Some(tenant) = self.tenants.get(&ready.tenant) else {
                debug!(tenant = %ready.tenant, "items of a tenant not configured here wait");
                continue;
            };
            let span = info_span!("assemble", tenant = %ready.tenant, run_id = %ready.run_id);
            // A conflict means another worker escalated meanwhile: look again (twice at most).
            for _ in 0..3 {
                match self
                    .assemble_one(tenant, &ready, now)
                    .instrument(span.clone())
                    .await?
                {
                    Some(s) => {
                        stats.digests += s.digests;
                        stats.escalations += s.escalations;
                        break;
                    }
                    None => continue,
                }
            }
        }
        Ok(stats)
    }

    async fn assemble_one(
        &self,
        tenant: &Tenant,
        ready: &ReadyDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<AssembleStats>, NotifyError> {
        let stored = self
            .store
            .digest_group(&ready.run_id, &ready.host_key)
            .await?;
        let Some(last) = stored.last().map(|s| s.id) else {
            return Ok(Some(AssembleStats::default()));
        };
        let Some(channels) = &tenant.channels else {
            // Notifications are off for this tenant: nothing to send, nothing to keep waiting.
            self.store.commit_digest(ready, last, &[], &[], now).await?;
            return Ok(Some(AssembleStats::default()));
        };
        let settings = channels.settings();
        // Only this host's sessions, whatever was stored: a digest never carries another's.
        let mut items: Vec<(DigestItem, DateTime<Utc>)> = stored
            .into_iter()
            .filter_map(|s| s.item.map(|i| (i, s.created_at)))
            .filter(|(i, _)| i.host_email.eq_ignore_ascii_case(&ready.host_key))
            .collect();
        for (item, _) in items.iter_mut() {
            fill_route(item, settings);
        }

        let mut messages = Vec::new();
        let mut stats = AssembleStats::default();
        let only_items: Vec<DigestItem> = items.iter().map(|(i, _)| i.clone()).collect();
        if settings.host_digests && !only_items.is_empty() {
            let r = render_host_digest(
                &only_items,
                &ready.host_key,
                tenant.tz,
                ready.run_started_at,
            );
            let recipient = only_items[0].host_email.clone();
            messages.push(NewMessage {
                idempotency_key: format!("digest:{}:{}", ready.run_id, ready.host_key),
                tenant: ready.tenant.clone(),
                run_id: Some(ready.run_id.clone()),
                kind: MessageKind::HostDigest,
                channel: Channel::Email,
                recipient,
                subject: r.subject,
                body_text: r.text,
                body_html: Some(r.html),
                data: r.data,
            });
            stats.digests += 1;
        }

        // Escalation candidates: open actions of sessions that start within their window.
        let mut candidates: Vec<(usize, usize, String)> = Vec::new();
        for (n, (item, recorded)) in items.iter().enumerate() {
            let Some(start) = item.start else { continue };
            let Some(from) = item.escalation.from(start) else {
                continue;
            };
            if !(from <= now && now < start && item.escalation.reaches_someone()) {
                continue;
            }
            if self
                .store
                .session_recorded_since(
                    &ready.tenant,
                    item.platform.name(),
                    &item.session_id,
                    *recorded,
                )
                .await?
            {
                // A newer run judged this session: its digest decides.
                continue;
            }
            for (a, action) in item.actions.iter().enumerate() {
                let key = format!(
                    "{}/{}/{}/{}/{}",
                    ready.tenant,
                    item.platform.name(),
                    item.session_id,
                    action.control.name(),
                    start.to_rfc3339()
                );
                candidates.push((n, a, key));
            }
        }
        let keys: Vec<String> = candidates.iter().map(|(_, _, k)| k.clone()).collect();
        let done = self.store.escalated(&keys).await?;
        let fresh: Vec<&(usize, usize, String)> = candidates
            .iter()
            .filter(|(_, _, k)| !done.contains(k))
            .collect();

        // One escalation per destination, listing every session of this host it should hear of.
        let mut by_dest: BTreeMap<(Channel, String), BTreeMap<usize, Vec<usize>>> = BTreeMap::new();
        for (n, a, _) in &fresh {
            let route = &items[*n].0.escalation;
            let dests = route
                .leads
                .iter()
                .map(|l| (Channel::Email, l.clone()))
                .chain(route.channels.iter().map(|c| (Channel::Webhook, c.clone())));
            for d in dests {
                by_dest
                    .entry(d)
                    .or_default()
                    .entry(*n)
                    .or_default()
                    .push(*a);
            }
        }
        for ((channel, recipient), sessions) in &by_dest {
            let escalated: Vec<Escalated<'_>> = sessions
                .iter()
                .map(|(n, actions)| Escalated {
                    item: &items[*n].0,
                    open: actions.iter().map(|a| &items[*n].0.actions[*a]).collect(),
                })
                .collect();
            let r = render_escalation(&escalated, tenant.tz, now);
            messages.push(NewMessage {
                idempotency_key: format!(
                    "escalation:{}:{}:{}:{}",
                    ready.run_id,
                    ready.host_key,
                    channel.name(),
                    recipient.to_ascii_lowercase()
                ),
                tenant: ready.tenant.clone(),
                run_id: Some(ready.run_id.clone()),
                kind: MessageKind::Escalation,
                channel: *channel,
                recipient: recipient.clone(),
                subject: r.subject,
                body_text: r.text,
                body_html: (*channel == Channel::Email).then_some(r.html),
                data: r.data,
            });
            stats.escalations += 1;
        }
        let fresh_keys: Vec<String> = fresh.iter().map(|(_, _, k)| k.clone()).collect();
        if !fresh_keys.is_empty() {
            info!(
                items = fresh_keys.len(),
                "escalating open items to safeguarding leads"
            );
        }
        let committed = self
            .store
            .commit_digest(ready, last, &fresh_keys, &messages, now)
            .await?;
        Ok(committed.then_some(stats))
    }

    /// Sends what is due, one message at a time, until nothing is due (or a batch is done).
    /// A failure is logged with what to fix and retried later with backoff; the next message
    /// goes on regardless.
    pub async fn deliver_due(&self) -> Result<DeliveryStats, NotifyError> {
        let mut stats = DeliveryStats::default();
        let lease = chrono::Duration::seconds(self.delivery.lease_secs.max(1) as i64);
        for _ in 0..DELIVER_BATCH {
            let now = Utc::now();
            let Some(msg) = self.store.claim_message(now, now + lease).await? else {
                break;
            };
            let span = info_span!(
                "deliver",
                tenant = %msg.tenant,
                message = msg.id,
                kind = msg.kind.name(),
                channel = msg.channel.name(),
                attempt = msg.attempts
            );
            self.deliver_one(&msg, &mut stats).instrument(span).await?;
        }
        Ok(stats)
    }

    async fn deliver_one(
        &self,
        msg: &OutboxMessage,
        stats: &mut DeliveryStats,
    ) -> Result<(), NotifyError> {
        if let Some(delay) = self.test_delay {
            tokio::time::sleep(delay).await;
        }
        let tenant = self.tenants.get(&msg.tenant);
        let result = match tenant.and_then(|t| t.channels.as_ref()) {
            Some(channels) => channels.send(msg).await,
            None => Err(NotifyError::UnknownTenant {
                tenant: msg.tenant.clone(),
            }),
        };
        let now = Utc::now();
        match result {
            Ok(()) => {
                self.store.mark_sent(msg.id, now).await?;
                info!("sent");
                stats.sent += 1;
            }
            Err(e) => {
                let delivery = tenant
                    .and_then(|t| t.channels.as_ref())
                    .map(|c| &c.settings().delivery)
                    .unwrap_or(&self.delivery);
                let give_up = msg.attempts >= delivery.max_attempts;
                let wait = chrono::Duration::from_std(delivery.backoff(msg.attempts))
                    .unwrap_or(chrono::Duration::hours(1));
                let retry_at = now + wait;
                let text = e.to_string();
                if give_up {
                    error!(error = %text, "delivery failed for the last time; the message is given up");
                    stats.given_up += 1;
                } else {
                    warn!(error = %text, retry_at = %retry_at, "delivery failed; will retry");
                    stats.retrying += 1;
                }
                self.store
                    .mark_attempt_failed(msg.id, now, retry_at, &text, give_up)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The most patient of the tenants' worker settings (they share one loop).
fn merge_delivery(acc: Option<DeliverySettings>, d: &DeliverySettings) -> DeliverySettings {
    match acc {
        None => d.clone(),
        Some(a) => DeliverySettings {
            lease_secs: a.lease_secs.max(d.lease_secs),
            poll_secs: a.poll_secs.min(d.poll_secs),
            stale_run_minutes: a.stale_run_minutes.max(d.stale_run_minutes),
            ..a
        },
    }
}

/// Fills a profile's empty escalation route from the tenant's settings.
fn fill_route(item: &mut DigestItem, settings: &NotifySettings) {
    let route = &mut item.escalation;
    if route.leads.is_empty() {
        route.leads = settings.leads.clone();
    }
    if route.channels.is_empty() {
        route.channels = settings.escalation_channels.clone();
    }
    if route.hours_before.is_none() {
        route.hours_before = Some(settings.escalate_hours_before);
    }
}

/// The digest each host of `report`'s run would receive, as plain text (for `chaperone demo`).
/// Read from what the sweep recorded, so it shows exactly what would be sent.
pub async fn render_demo_digests(
    store: &Store,
    report: &RunReport,
    tz: Tz,
) -> Result<String, NotifyError> {
    let items = store.digest_items(&report.run_id).await?;
    let mut out = String::new();
    if items.is_empty() {
        out.push_str("No host needs a message: every session was already as the profiles ask.\n");
    }
    for (host, own) in by_host(&items) {
        let r = render_host_digest(&own, &host, tz, report.started_at);
        out.push_str(&format!(
            "----- To: {} -----\nSubject: {}\n\n{}\n",
            own[0].host_email, r.subject, r.text
        ));
    }
    Ok(out)
}

/// `chaperone notify deliver [--once]`: assembles and delivers the outbox of the configured
/// tenants. With `once`, it works until nothing is due and exits 1 when a delivery failed (it
/// will be retried by the next call); otherwise it runs until Ctrl-C / SIGTERM.
pub async fn deliver(settings: &Settings, once: bool) -> anyhow::Result<i32> {
    let store = Store::connect(settings.store.url.expose_secret())
        .await
        .context("could not open the store")?;
    let notifier = Notifier::new(store, &settings.tenants)?;
    if !once {
        notifier.run(shutdown_signal()).await;
        return Ok(0);
    }
    let mut total = DeliveryStats::default();
    let mut queued = AssembleStats::default();
    loop {
        let (a, d) = notifier.tick().await?;
        queued.digests += a.digests;
        queued.escalations += a.escalations;
        total.sent += d.sent;
        total.retrying += d.retrying;
        total.given_up += d.given_up;
        if a == AssembleStats::default() && d.sent + d.retrying + d.given_up == 0 {
            break;
        }
    }
    println!(
        "queued {} digest(s) and {} escalation(s); sent {}, failed {} (retried later), given up {}",
        queued.digests, queued.escalations, total.sent, total.retrying, total.given_up
    );
    Ok(i32::from(total.retrying + total.given_up > 0))
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (how Kubernetes and systemd stop a process).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
