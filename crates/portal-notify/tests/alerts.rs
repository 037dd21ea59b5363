//! Notification rules at delivery (seed 000): an event at a location reaches the rule's recipients
//! there once each, by toast row and by e-mail over SMTP without health information; nothing
//! reaches staff of another location, inactive staff, or anyone outside a rule's dates; a retried
//! delivery writes nothing twice.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::{enqueue, settings};
use portal_core::events::{DomainEvent, Relation};
use portal_core::staff::StaffRole;
use portal_core::time_util::now_utc;
use portal_notify::alerts;
use portal_notify::{CancellationToken, Mailer};
use portal_store::notifications::{self as store, RuleRow};
use portal_store::testing::fixtures::*;
use portal_store::{Db, ids};

const WAIT: Duration = Duration::from_secs(20);

async fn rule(db: &Db, location: &str, event: &str, f: impl FnOnce(&mut RuleRow)) -> String {
    let now = now_utc();
    let mut r = RuleRow {
        id: ids::new_id(),
        location_id: location.to_owned(),
        event: event.to_owned(),
        name: "Registrations".into(),
        starts_on: now.date() - time::Duration::days(1),
        ends_on: None,
        severity: "warning".into(),
        recipient_users: String::new(),
        recipient_care_team: true,
        recipient_roles: String::new(),
        title: "{patient_name} registered".into(),
        message: "{patient_name} ({relation}) completed registration at {location}.".into(),
        toast: true,
        email: true,
        deleted_at: None,
        created_by_name: "Root".into(),
        created_at: now,
        updated_at: now,
    };
    f(&mut r);
    let id = r.id.clone();
    db.write(move |tx| Box::pin(async move { store::insert_rule(tx, &r).await })).await.expect("rule");
    id
}

fn registered(patient: &str) -> DomainEvent {
    DomainEvent::PortalRegistrationCompleted {
        account_id: ids::new_id(),
        patient_id: patient.to_owned(),
        relation: Relation::Guardian,
    }
}

async fn notifications_of(db: &Db, staff: &portal_core::Actor) -> Vec<portal_store::notifications::NotificationRow> {
    let mut conn = db.read().await.unwrap();
    store::of_staff(&mut conn, &sid(staff), None, 50).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_reaches_its_recipients_once_each_by_toast_and_email() {
    let t = clinic().await;
    let db = &t.db;
    let main = location(db, "Main").await;
    let north = location(db, "North").await;
    let doc = staff_member(db, "Dr Ada Jones", StaffRole::Clinician, &[&main], false).await;
    let desk = staff_member(db, "Fran Desk", StaffRole::FrontDesk, &[&main], false).await;
    let far_desk = staff_member(db, "Otto North", StaffRole::FrontDesk, &[&north], false).await;
    let admin = staff_member(db, "Root Admin", StaffRole::SuperAdmin, &[], false).await;
    let ann = patient(db, "Ann", "Lee", &main).await;
    add_to_care_team(db, &ann, &doc).await;
    // Care team, front desk by role, and the clinician named again: one notification each.
    rule(db, &main, "registration_completed", |r| {
        r.recipient_roles = "front_desk".into();
        r.recipient_users = sid(&doc);
    })
    .await;
    // Outside its dates, another event, another location: none of these fire.
    rule(db, &main, "registration_completed", |r| {
        r.ends_on = Some(now_utc().date() - time::Duration::days(1));
        r.recipient_roles = "super_admin".into();
    })
    .await;
    rule(db, &main, "email_changed", |r| r.recipient_roles = "super_admin".into()).await;
    rule(db, &north, "registration_completed", |r| r.recipient_roles = "front_desk,super_admin".into()).await;

    let smtp = SmtpServer::start().await;
    let event = enqueue(db, registered(&ann)).await;
    let stop = CancellationToken::new();
    let worker = portal_notify::spawn(db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings(), stop.clone());
    let mails = smtp.wait_for(2, WAIT).await;

    for person in [&doc, &desk] {
        let got = notifications_of(db, person).await;
        assert_eq!(got.len(), 1, "one notification for {}", sid(person));
        let n = &got[0];
        assert_eq!(n.title, "Ann Lee registered");
        assert_eq!(n.body, "Ann Lee (Guardian) completed registration at Main.");
        assert_eq!((n.severity.as_str(), n.toast, n.toasted_at), ("warning", true, None));
        assert_eq!(n.event_id.as_deref(), Some(event.as_str()));
    }
    // Refused side: the other location's front desk and the Super Admin (their rules did not
    // apply) get nothing.
    assert!(notifications_of(db, &far_desk).await.is_empty());
    assert!(notifications_of(db, &admin).await.is_empty());

    // The e-mails: one per recipient, the location and a link, no patient.
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    let mut expected = vec![staff_email(db, &doc).await, staff_email(db, &desk).await];
    expected.sort();
    assert_eq!(to, expected);
    for m in &mails {
        assert_eq!(m.subject(), "A portal event needs your attention at Main");
        let text = m.text();
        assert!(text.contains("https://portal.sunrise.example/notifications"), "{text}");
        for secret in ["Ann", "Lee", "Guardian", "registered"] {
            assert!(!m.data.contains(secret), "the e-mail must not carry {secret:?}");
        }
    }

    // A retried delivery of the same event writes nothing twice.
    let again = alerts::deliver(db, &event, &registered(&ann), now_utc()).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(notifications_of(db, &doc).await.len(), 1);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("stops").unwrap();
    assert_eq!(smtp.received().len(), 2, "each e-mail sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_staff_and_staff_who_lost_the_location_are_skipped() {
    let t = clinic().await;
    let db = &t.db;
    let main = location(db, "Main").await;
    let north = location(db, "North").await;
    let moved = staff_member(db, "Moved Away", StaffRole::FrontDesk, &[&main], false).await;
    let gone = staff_member(db, "Gone Away", StaffRole::FrontDesk, &[&main], false).await;
    let stays = staff_member(db, "Stays Here", StaffRole::FrontDesk, &[&main], false).await;
    set_staff_locations(db, &moved, &[&north]).await;
    let g = sid(&gone);
    db.write(move |tx| {
        Box::pin(async move {
            let row = portal_store::staff::find(tx, &g).await?;
            let profile =
                portal_store::staff::StaffProfile { name: row.name, email: row.email, role: row.role, active: false };
            portal_store::staff::update_profile(tx, &g, &profile).await
        })
    })
    .await
    .unwrap();
    let ann = patient(db, "Ann", "Lee", &main).await;
    rule(db, &main, "new_request", |r| {
        r.recipient_care_team = false;
        r.recipient_roles = "front_desk".into();
        r.email = false;
        r.title = "New request from {patient_name}".into();
        r.message = "{relation} asks at {location}".into();
    })
    .await;
    let event = DomainEvent::PortalRequestSubmitted {
        request_id: ids::new_id(),
        account_id: ids::new_id(),
        patient_id: ann.clone(),
        relation: Relation::Myself,
        request_kind: "refill".into(),
    };
    let written = alerts::deliver(db, "event-1", &event, now_utc()).await.unwrap();
    assert_eq!(written.iter().map(|n| n.staff_id.clone()).collect::<Vec<_>>(), vec![sid(&stays)]);
    assert_eq!(written[0].body, "Self asks at Main");
    assert!(written[0].link.as_deref().unwrap().starts_with("/queue/"));
    // Toast only: no e-mail queued.
    let mut conn = db.read().await.unwrap();
    let queued = portal_store::portal_accounts::queued_events(&mut conn, &["staff_notification_email"]).await.unwrap();
    assert!(queued.is_empty());
}

async fn staff_email(db: &Db, a: &portal_core::Actor) -> String {
    let mut conn = db.read().await.unwrap();
    portal_store::staff::find(&mut conn, &sid(a)).await.unwrap().email
}
