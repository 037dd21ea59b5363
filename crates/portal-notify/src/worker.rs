//! The delivery worker: claims due events from the outbox under a lease, turns each into its side
//! effect, and records the outcome.
//!
//! Delivery is at least once. The event is marked delivered only after the transport accepted
//! the message, so a crash (or `kill -9`) between the two sends it again once the lease runs
//! out. Every attempt at one event carries the same Message-ID (`<event id@public host>`), so a
//! duplicate is recognisable by the recipient's mail system and by an operator.
//!
//! A failed attempt is retried after `min(base * 2^(attempts-1), max)` scaled by a random factor
//! in [0, 1] ("full jitter", so that replicas retrying after an outage do not all return at the
//! same instant). After `max_attempts` the event becomes a dead letter: kept with its last error,
//! never claimed again, and logged with its id and kind only.
//!
//! A relay that cannot be reached at all (no connection, no TLS session, no answer in time) is
//! not any message's fault: the attempt is not counted, the rest of the batch is handed back, and
//! the worker pauses (5 s doubling to a minute with the defaults) before it tries again. An outage
//! of any length then turns no notice into a dead letter; they go out once the relay is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use portal_core::events::DomainEvent;
use portal_core::time_util::now_utc;
use portal_store::outbox::{self, OutboxEvent};
use portal_store::{Db, StoreError};
use rand::Rng;
use time::PrimitiveDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::compose::{self, Brand, ComposeError};
use crate::mailer::Mailer;

/// When to retry and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay cap after the first failure; it doubles with each further failure.
    pub base: Duration,
    /// The largest delay cap.
    pub max: Duration,
    /// Attempts (claims) after which a failing event becomes a dead letter.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(5), max: Duration::from_secs(3600), max_attempts: 10 }
    }
}

impl RetryPolicy {
    /// The upper bound of the delay after the `attempts`-th failed attempt (1-based).
    pub fn cap(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        self.base.saturating_mul(1u32 << doublings.min(31)).min(self.max)
    }

    /// The delay before the next attempt: uniform in [0, cap] (full jitter).
    pub fn delay(&self, attempts: u32) -> Duration {
        let cap = u64::try_from(self.cap(attempts).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=cap))
    }
}

/// Everything the worker needs besides the database and the transport.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public URL without a trailing slash: links, logos and the Message-ID's host.
    pub public_url: String,
    pub from: Mailbox,
    pub retry: RetryPolicy,
    /// How long to sleep when nothing is due.
    pub poll_interval: Duration,
    /// Events claimed at once.
    pub batch_size: i64,
    /// How long a claim holds its events; a worker that dies gives them up when it ends.
    pub lease: Duration,
    /// The longest one delivery may take. No delivery starts unless it can end before the
    /// lease does, so a live worker never has its events claimed from under it.
    pub send_timeout: Duration,
    /// Messages sent at once (the SMTP transport pools its connections); their outcomes are
    /// recorded together.
    pub send_concurrency: usize,
    /// Where the toasts of the notifications written here are signalled (the server's hub;
    /// by default one of the worker's own).
    pub hub: crate::hub::Hub,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("`{0}` is not an e-mail address such as Portal <portal@clinic.example>")]
    From(String),
    #[error("the lease must be longer than the send timeout")]
    Lease,
    #[error("max_attempts must be at least 1, and the largest retry delay at least the first")]
    Retry,
}

/// Parses the From address (`PORTAL_MAIL_FROM`).
pub fn parse_from(from: &str) -> Result<Mailbox, SettingsError> {
    from.parse::<Mailbox>().map_err(|_| SettingsError::From(from.to_owned()))
}

impl Settings {
    /// Defaults: retries from 5 s up to 1 h, 10 attempts, a poll every second, batches of 50,
    /// a lease of 60 s, a send timeout of 30 s, 8 messages at once.
    pub fn new(public_url: &str, from: &str) -> Result<Settings, SettingsError> {
        Ok(Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            from: parse_from(from)?,
            retry: RetryPolicy::default(),
            poll_interval: Duration::from_secs(1),
            batch_size: 50,
            lease: Duration::from_secs(60),
            send_timeout: Duration::from_secs(30),
            send_concurrency: 8,
            hub: crate::hub::Hub::new(),
        })
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.lease <= self.send_timeout {
            return Err(SettingsError::Lease);
        }
        if self.retry.max_attempts == 0 || self.retry.max < self.retry.base {
            return Err(SettingsError::Retry);
        }
        Ok(())
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub delivered: usize,
    /// Failed and due again later.
    pub retrying: usize,
    /// Given up.
    pub dead: usize,
    /// Handed back untouched (shutdown, the lease running short, or the relay unreachable).
    pub released: usize,
    /// Attempted while the relay could not be reached: handed back with the attempt not
    /// counted ([`Worker::run`] then pauses).
    pub unreachable: usize,
}

/// The delivery worker. [`spawn`] runs it until shutdown; tests drive [`Worker::deliver_due`].
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    mailer: Mailer,
    settings: Settings,
}

/// Starts the worker on the runtime. It stops when `shutdown` is cancelled: the delivery in
/// progress finishes and is recorded, the rest of the batch is handed back, nothing more is
/// claimed. Await the handle to wait for that.
pub fn spawn(db: Db, mailer: Mailer, settings: Settings, shutdown: CancellationToken) -> JoinHandle<()> {
    Worker::new(db, mailer, settings).spawn(shutdown)
}

/// How an attempt ended, short of success.
struct Failure {
    /// Never PHI: what failed, not what was sent.
    reason: String,
    /// Retrying cannot help (a malformed event, an invalid address, an expired link).
    permanent: bool,
    /// The transport could not be reached: not this event's attempt (see the module's doc).
    unreachable: bool,
}

impl Failure {
    fn transient(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: false, unreachable: false }
    }
    fn permanent(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: true, unreachable: false }
    }
    fn unreachable(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: false, unreachable: true }
    }
}

/// The longest pause after finding the relay unreachable: delivery resumes within about this
/// long once it is back.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// The event kinds this version knows. An unknown kind (recorded by a newer replica during a
/// rolling upgrade) is retried rather than given up at once.
const KNOWN_KINDS: [&str; 9] = [
    "account_link_issued",
    "password_changed_notice",
    "email_change_notice",
    "portal_registration_completed",
    "portal_email_changed",
    "portal_message_notice",
    "portal_request_submitted",
    "portal_message_received",
    "staff_notification_email",
];

fn to_time(d: Duration) -> time::Duration {
    time::Duration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Worker {
    pub fn new(db: Db, mailer: Mailer, settings: Settings) -> Worker {
        Worker { inner: Arc::new(Inner { db, mailer, settings }) }
    }

    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move { self.run(shutdown).await })
    }

    /// Delivers until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let s = &self.inner.settings;
        tracing::info!(transport = %self.inner.mailer.describe(), "e-mail delivery started");
        // Passes in a row that found the relay unreachable.
        let mut down = 0u32;
        while !shutdown.is_cancelled() {
            let wait = match self.deliver_due(&shutdown).await {
                Ok(report) if report.unreachable > 0 => {
                    down += 1;
                    let pause = self.pause(down);
                    tracing::warn!(
                        transport = %self.inner.mailer.describe(), pause_secs = pause.as_secs_f64(),
                        "e-mail relay unreachable; delivery paused, no attempt counted"
                    );
                    Some(pause)
                }
                Ok(report) => {
                    if down > 0 && report.claimed > 0 {
                        tracing::info!("e-mail relay reachable again; delivery resumed");
                        down = 0;
                    }
                    (report.claimed == 0).then_some(s.poll_interval)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: claiming events failed");
                    Some(s.poll_interval)
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
        tracing::info!("e-mail delivery stopped");
    }

    /// The pause after the `down`-th pass in a row that found the relay unreachable: the retry
    /// base doubling, at most [`MAX_PAUSE`] (or the retry maximum, when that is shorter), less
    /// up to a half at random so that replicas do not return to the relay in step.
    fn pause(&self, down: u32) -> Duration {
        let s = &self.inner.settings;
        let cap = s.retry.cap(down).min(MAX_PAUSE);
        let half = u64::try_from(cap.as_millis() / 2).unwrap_or(u64::MAX);
        (cap - Duration::from_millis(rand::thread_rng().gen_range(0..=half))).max(s.poll_interval)
    }

    /// Claims one batch of due events and delivers them, one at a time.
    pub async fn deliver_due(&self, shutdown: &CancellationToken) -> Result<BatchReport, StoreError> {
        let s = &self.inner.settings;
        let (lease, limit) = (to_time(s.lease), s.batch_size);
        let claimed_at = Instant::now();
        let now = now_utc();
        let batch =
            self.inner.db.write(move |tx| Box::pin(async move { outbox::claim(tx, now, lease, limit).await })).await?;
        let mut report = BatchReport { claimed: batch.len(), ..BatchReport::default() };
        let Some(leased_until) = batch.first().and_then(|e| e.claimed_until) else {
            return Ok(report);
        };
        // A delivery started after this instant could outlast the lease, and another worker
        // could then claim and send the same event.
        let last_start = claimed_at + s.lease.saturating_sub(s.send_timeout);
        // A few messages are sent at once, and their outcomes recorded in one transaction: a
        // write per message would bound delivery by the database's flush (about 20 a second on
        // SQLite with synchronous=FULL). A crash loses at most one group's records; those
        // messages are sent again with the same Message-ID (at least once, as designed).
        let group = s.send_concurrency.max(1);
        for (g, events) in batch.chunks(group).enumerate() {
            if shutdown.is_cancelled() || Instant::now() > last_start {
                let rest: Vec<String> = batch[g * group..].iter().map(|e| e.id.clone()).collect();
                report.released = rest.len();
                self.release(rest, leased_until).await;
                break;
            }
            let outcomes = futures_util::future::join_all(events.iter().map(|e| self.deliver(e))).await;
            let mut records = Vec::with_capacity(outcomes.len());
            for (event, (outcome, record)) in events.iter().zip(outcomes) {
                match outcome {
                    Outcome::Delivered => report.delivered += 1,
                    Outcome::Retrying => report.retrying += 1,
                    Outcome::Dead => report.dead += 1,
                    Outcome::Unreachable => report.unreachable += 1,
                }
                records.push((event.id.clone(), record));
            }
            self.record(records, leased_until).await;
            if report.unreachable > 0 {
                // The next messages would fail the same way: hand them back uncounted.
                let untried = ((g + 1) * group).min(batch.len());
                let rest: Vec<String> = batch[untried..].iter().map(|e| e.id.clone()).collect();
                report.released = rest.len();
                self.release(rest, leased_until).await;
                break;
            }
        }
        Ok(report)
    }

    /// Attempts one event; what to record of it.
    async fn deliver(&self, event: &OutboxEvent) -> (Outcome, Record) {
        let parsed = serde_json::from_str::<DomainEvent>(&event.payload);
        let attempt = match &parsed {
            Ok(domain_event) => self.attempt(event, domain_event).await,
            Err(_) if !KNOWN_KINDS.contains(&event.kind.as_str()) => {
                Err(Failure::transient("unknown event kind (recorded by a newer version?)"))
            }
            Err(_) => Err(Failure::permanent("the payload does not match its kind")),
        };
        // What stays stored once the event is done with: never a raw token.
        let redacted = match &parsed {
            Ok(e) if e.redacted() != *e => serde_json::to_value(e.redacted()).ok(),
            _ => None,
        };
        match attempt {
            Ok(()) => {
                tracing::debug!(event = %event.id, kind = %event.kind, "event delivered");
                (Outcome::Delivered, Record::Delivered { redacted })
            }
            Err(f) if f.unreachable => {
                tracing::debug!(event = %event.id, kind = %event.kind, error = %f.reason, "relay unreachable");
                (Outcome::Unreachable, Record::NotAttempted { reason: f.reason })
            }
            Err(f)
                if f.permanent
                    || event.attempts >= self.inner.settings.retry.max_attempts.try_into().unwrap_or(i32::MAX) =>
            {
                tracing::warn!(
                    event = %event.id, kind = %event.kind, attempts = event.attempts, error = %f.reason,
                    "giving up on an event: it is kept as a dead letter"
                );
                (Outcome::Dead, Record::Dead { reason: f.reason, redacted })
            }
            Err(f) => {
                let attempts = u32::try_from(event.attempts).unwrap_or(1).max(1);
                let retry_at = now_utc() + to_time(self.inner.settings.retry.delay(attempts));
                tracing::warn!(
                    event = %event.id, kind = %event.kind, attempts = event.attempts, error = %f.reason,
                    "delivery failed; will retry"
                );
                (Outcome::Retrying, Record::Failed { reason: f.reason, retry_at })
            }
        }
    }

    async fn attempt(&self, event: &OutboxEvent, domain_event: &DomainEvent) -> Result<(), Failure> {
        let s = &self.inner.settings;
        let patient_id = match domain_event {
            DomainEvent::AccountLinkIssued { patient_id, .. } => patient_id.clone(),
            DomainEvent::PortalMessageNotice { patient_id, .. } => Some(patient_id.clone()),
            DomainEvent::PasswordChangedNotice { .. }
            | DomainEvent::EmailChangeNotice { .. }
            | DomainEvent::StaffNotificationEmail { .. } => None,
            // Not e-mails: the events notification rules react to (seed 000). Their
            // notifications (and the e-mails those queue) are written here, once however often
            // the event is attempted.
            DomainEvent::PortalRegistrationCompleted { .. }
            | DomainEvent::PortalEmailChanged { .. }
            | DomainEvent::PortalRequestSubmitted { .. }
            | DomainEvent::PortalMessageReceived { .. } => {
                let written = crate::alerts::deliver(&self.inner.db, &event.id, domain_event, now_utc())
                    .await
                    .map_err(|e| Failure::transient(format!("notification rules failed: {e}")))?;
                s.hub.committed(self.inner.db.backend(), &written);
                return Ok(());
            }
        };
        let branding = async {
            let mut conn = self.inner.db.read().await?;
            portal_store::branding::for_patient(&mut conn, patient_id.as_deref()).await
        }
        .await
        .map_err(|e| Failure::transient(format!("reading the branding failed: {e}")))?;
        let brand = Brand::from_branding(&branding, &s.public_url);
        let rendered = match compose::render(domain_event, &brand, &s.public_url, event.created_at, now_utc()) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e @ ComposeError::Template(_)) => return Err(Failure::transient(e.to_string())),
            Err(e) => return Err(Failure::permanent(e.to_string())),
        };
        let to = rendered
            .to
            .parse::<lettre::Address>()
            .map_err(|_| Failure::permanent("the recipient is not a valid e-mail address"))?;
        let message_id = compose::message_id(&event.id, &s.public_url);
        let message = compose::message(&rendered, &s.from, to, &message_id)
            .map_err(|e| Failure::permanent(format!("the message cannot be built: {e}")))?;
        match tokio::time::timeout(s.send_timeout, self.inner.mailer.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.unreachable => Err(Failure::unreachable(e.summary)),
            Ok(Err(e)) => Err(Failure::transient(e.summary)),
            Err(_) => Err(Failure::unreachable("sending timed out")),
        }
    }

    /// Records an outcome. A few quick retries ride out a brief database hiccup; if the write
    /// still fails, the lease runs out and the event is attempted again (for a delivered one,
    /// a duplicate with the same Message-ID).
    async fn record(&self, records: Vec<(String, Record)>, leased_until: PrimitiveDateTime) {
        if records.is_empty() {
            return;
        }
        let n = records.len();
        for attempt in 1..=3u32 {
            let records = records.clone();
            let result = self
                .inner
                .db
                .write(move |tx| {
                    Box::pin(async move {
                        let now = now_utc();
                        for (id, record) in records {
                            match record {
                                Record::Delivered { redacted } => {
                                    outbox::mark_delivered(tx, &id, now).await?;
                                    if let Some(p) = redacted {
                                        outbox::replace_payload(tx, &id, &p).await?;
                                    }
                                }
                                Record::Failed { reason, retry_at } => {
                                    outbox::mark_failed(tx, &id, retry_at, &reason).await?;
                                }
                                Record::NotAttempted { reason } => {
                                    outbox::mark_not_attempted(tx, &id, leased_until, &reason).await?;
                                }
                                Record::Dead { reason, redacted } => {
                                    outbox::mark_dead(tx, &id, now, &reason).await?;
                                    if let Some(p) = redacted {
                                        outbox::replace_payload(tx, &id, &p).await?;
                                    }
                                }
                            }
                        }
                        Ok::<_, StoreError>(())
                    })
                })
                .await;
            match result {
                Ok(()) => return,
                Err(e) if attempt < 3 => {
                    tracing::warn!(events = n, error = %e, "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => {
                    tracing::error!(events = n, error = %e, "recording delivery outcomes failed");
                }
            }
        }
    }

    async fn release(&self, ids: Vec<String>, leased_until: PrimitiveDateTime) {
        let result =
            self.inner.db.write(move |tx| Box::pin(async move { outbox::release(tx, &ids, leased_until).await })).await;
        if let Err(e) = result {
            // Harmless: the lease runs out and the events are claimed again.
            tracing::warn!(error = %e, "handing back claimed events failed");
        }
    }
}

enum Outcome {
    Delivered,
    Retrying,
    Dead,
    Unreachable,
}

#[derive(Clone)]
enum Record {
    Delivered {
        redacted: Option<serde_json::Value>,
    },
    Failed {
        reason: String,
        retry_at: PrimitiveDateTime,
    },
    /// The relay could not be reached: handed back, the attempt not counted, the reason kept.
    NotAttempted {
        reason: String,
    },
    Dead {
        reason: String,
        redacted: Option<serde_json::Value>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_cap_doubles_up_to_the_maximum_and_the_jitter_stays_below_it() {
        let p = RetryPolicy::default();
        assert_eq!(p.cap(1), Duration::from_secs(5));
        assert_eq!(p.cap(2), Duration::from_secs(10));
        assert_eq!(p.cap(3), Duration::from_secs(20));
        assert_eq!(p.cap(10), Duration::from_secs(2560), "5 s * 2^9");
        assert_eq!(p.cap(11), Duration::from_secs(3600), "5120 s, capped at 1 h");
        assert_eq!(p.cap(u32::MAX), Duration::from_secs(3600), "no overflow");
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = p.delay(3);
            assert!(d <= Duration::from_secs(20));
            distinct.insert(d);
        }
        assert!(distinct.len() > 50, "jittered");
    }

    #[test]
    fn settings_have_the_documented_defaults_and_are_checked() {
        let s = Settings::new("https://portal.example.org/", "Portal <portal@clinic.example>").unwrap();
        assert_eq!(s.public_url, "https://portal.example.org");
        assert_eq!(
            s.retry,
            RetryPolicy { base: Duration::from_secs(5), max: Duration::from_secs(3600), max_attempts: 10 }
        );
        assert_eq!((s.poll_interval, s.batch_size), (Duration::from_secs(1), 50));
        s.validate().unwrap();
        assert!(Settings::new("https://x", "not an address").is_err());
        let bad = Settings { lease: Duration::from_secs(10), ..s.clone() };
        assert!(matches!(bad.validate(), Err(SettingsError::Lease)));
        let bad = Settings { retry: RetryPolicy { max_attempts: 0, ..s.retry }, ..s };
        assert!(matches!(bad.validate(), Err(SettingsError::Retry)));
    }
}
