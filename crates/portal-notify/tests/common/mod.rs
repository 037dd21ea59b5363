//! Shared harness of portal-notify's tests: a clinic in a fresh database (made through the store,
//! since portal-notify depends on no domain crate), events recorded as a use case would record
//! them, fast retry settings, and the test SMTP server.
#![allow(dead_code)]

pub mod smtp;

use std::time::{Duration, Instant};

use portal_core::events::{DomainEvent, LinkPurpose};
use portal_core::time_util::{now_utc, rfc3339};
use portal_notify::{RetryPolicy, Settings};
use portal_store::outbox::{self, OutboxEvent};
use portal_store::{Db, org, patients};

pub const PUBLIC_URL: &str = "https://portal.sunrise.example";
/// A patient name that must never appear in an e-mail.
pub const PATIENT_FIRST: &str = "Zelda";
pub const PATIENT_LAST: &str = "Quartermaine";

pub struct Clinic {
    pub location_id: String,
    pub patient_id: String,
}

fn png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0u8; 32]);
    png
}

/// "Sunrise Health" with a logo, branding by location when `by_location`; a location
/// "Northside Clinic" with its own phone and logo; one patient there.
pub async fn clinic(db: &Db, by_location: bool) -> Clinic {
    db.write(move |tx| {
        Box::pin(async move {
            org::update_company(
                tx,
                &org::CompanyUpdate {
                    name: "Sunrise Health",
                    phone: Some("(555) 010-1000"),
                    brand_by_location: by_location,
                },
            )
            .await?;
            org::set_company_logo(tx, "image/png", &png()).await?;
            let location_id = portal_store::ids::new_id();
            org::insert_location(
                tx,
                &location_id,
                &org::LocationFields {
                    name: "Northside Clinic".into(),
                    address_line1: None,
                    city: None,
                    state: None,
                    zip: None,
                    phone: Some("(555) 010-2000".into()),
                    time_zone: "America/New_York".into(),
                },
            )
            .await?;
            org::set_location_logo(tx, &location_id, "image/png", &png()).await?;
            let patient_id = portal_store::ids::new_id();
            patients::insert(
                tx,
                &patient_id,
                "P-000001",
                &patients::PatientFields {
                    first_name: PATIENT_FIRST.into(),
                    last_name: PATIENT_LAST.into(),
                    search_name: patients::search_name(PATIENT_FIRST, PATIENT_LAST),
                    date_of_birth: time::macros::date!(1980 - 02 - 03),
                    email: Some("zelda@example.com".into()),
                    phone: None,
                    address_line1: None,
                    city: None,
                    state: None,
                    zip: Some("02139".into()),
                    location_id: location_id.clone(),
                    status: "active".into(),
                },
            )
            .await?;
            Ok::<_, portal_store::StoreError>(Clinic { location_id, patient_id })
        })
    })
    .await
    .expect("clinic fixture")
}

pub fn link(purpose: LinkPurpose, to: &str, patient_id: Option<&str>, token: &str) -> DomainEvent {
    let validity = if purpose == LinkPurpose::Reset { time::Duration::hours(1) } else { time::Duration::hours(24) };
    DomainEvent::AccountLinkIssued {
        purpose,
        account_id: None,
        patient_id: patient_id.map(str::to_owned),
        to: to.into(),
        token: token.into(),
        expires_at: rfc3339(now_utc() + validity),
        message: None,
    }
}

/// Records `event` in its own write transaction, as a use case would; returns its id.
pub async fn enqueue(db: &Db, event: DomainEvent) -> String {
    db.write(move |tx| Box::pin(async move { outbox::enqueue_event(tx, &event).await })).await.expect("enqueue")
}

pub async fn event(db: &Db, id: &str) -> OutboxEvent {
    let mut conn = db.read().await.expect("connection");
    outbox::find(&mut conn, id).await.expect("event")
}

pub async fn pending(db: &Db) -> i64 {
    let mut conn = db.read().await.expect("connection");
    outbox::pending_count(&mut conn).await.expect("pending")
}

pub async fn dead(db: &Db) -> i64 {
    let mut conn = db.read().await.expect("connection");
    outbox::dead_count(&mut conn).await.expect("dead")
}

/// Waits until `check` holds for the event, or fails the test.
pub async fn wait_for_event(db: &Db, id: &str, timeout: Duration, check: impl Fn(&OutboxEvent) -> bool) -> OutboxEvent {
    let deadline = Instant::now() + timeout;
    loop {
        let e = event(db, id).await;
        if check(&e) {
            return e;
        }
        assert!(Instant::now() < deadline, "event {id} did not reach the expected state: {e:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Settings for tests: retries within a fraction of a second, a short poll.
pub fn settings() -> Settings {
    let mut s = Settings::new(PUBLIC_URL, "Sunrise Portal <portal@sunrise.example>").expect("settings");
    s.retry = RetryPolicy { base: Duration::from_millis(200), max: Duration::from_millis(400), max_attempts: 10 };
    s.poll_interval = Duration::from_millis(50);
    s.lease = Duration::from_secs(10);
    s.send_timeout = Duration::from_secs(5);
    s
}

/// Sleeps until the event's retry time has passed.
pub async fn until_due(e: &OutboxEvent) {
    let wait = e.available_at - now_utc();
    if wait.is_positive() {
        tokio::time::sleep(Duration::from_millis(u64::try_from(wait.whole_milliseconds()).unwrap_or(0) + 5)).await;
    }
}

pub fn message_id_of(event_id: &str) -> String {
    format!("<{event_id}@portal.sunrise.example>")
}
