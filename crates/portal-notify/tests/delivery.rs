//! E-mail delivery through a real SMTP conversation (and the file transport): what arrives, how
//! it is branded, that it carries no health information, and what stays stored afterwards.

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::*;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_notify::{CancellationToken, Mailer, Worker};
use portal_store::testing::TestDb;

const WAIT: Duration = Duration::from_secs(20);

fn assert_no_health_information(raw: &str, decoded: &[String]) {
    for text in decoded.iter().map(String::as_str).chain([raw]) {
        assert!(
            !text.contains(PATIENT_FIRST) && !text.contains(PATIENT_LAST),
            "a patient's name in an e-mail:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_arrives_over_smtp_branded_by_location_without_the_patients_name() {
    let t = TestDb::new().await;
    let clinic = clinic(&t.db, true).await;
    let smtp = SmtpServer::start().await;
    let token = "inv-TOKEN-0123456789abcdef0123456789abcdef";
    let mut invitation = link(LinkPurpose::Invitation, "ann@example.com", Some(&clinic.patient_id), token);
    if let DomainEvent::AccountLinkIssued { message, .. } = &mut invitation {
        *message = Some("Please fill in your intake forms before your first visit.".into());
    }
    let id = enqueue(&t.db, invitation).await;

    let stop = CancellationToken::new();
    let worker = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings(), stop.clone());
    let got = smtp.wait_for(1, WAIT).await;
    let m = &got[0];

    assert_eq!(m.rcpt_to, vec!["ann@example.com".to_owned()]);
    assert_eq!(m.mail_from, "portal@sunrise.example");
    assert!(m.header("To").unwrap().contains("ann@example.com"));
    assert!(m.header("From").unwrap().contains("portal@sunrise.example"));
    assert_eq!(m.subject(), "You're invited to Northside Clinic's patient portal");
    assert_eq!(m.message_id(), message_id_of(&id), "the Message-ID is made from the event's id");
    assert_eq!(m.header("Auto-Submitted").as_deref(), Some("auto-generated"));
    let (text, html) = (m.text(), m.html());
    let link = format!("{PUBLIC_URL}/portal/set-password/{token}");
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!(r#"href="{link}""#)), "{html}");
    for body in [&text, &html] {
        assert!(body.contains("Northside Clinic"), "the location's name when branding by location");
        assert!(body.contains("(555) 010-2000"), "the location's phone");
        assert!(body.contains("24 hours"));
        assert!(body.contains("Please fill in your intake forms before your first visit."), "staff's message");
        assert!(!body.contains("Sunrise Health"), "not the company's name");
    }
    assert!(html.contains(&format!(r#"<img src="{PUBLIC_URL}/branding/locations/{}/logo""#, clinic.location_id)));
    assert_no_health_information(&m.data, &[text, html, m.subject()]);

    // Delivered, and the token is not kept.
    let e = wait_for_event(&t.db, &id, WAIT, |e| e.delivered_at.is_some()).await;
    assert!(!e.payload.contains(token), "the raw token outlived its e-mail: {}", e.payload);
    let stored: DomainEvent = serde_json::from_str(&e.payload).unwrap();
    assert!(
        matches!(stored, DomainEvent::AccountLinkIssued { ref token, ref to, .. } if token.is_empty() && to == "ann@example.com")
    );
    assert_eq!((e.attempts, e.claimed_until, e.dead_at), (1, None, None));
    assert_eq!(pending(&t.db).await, 0);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("stops promptly").unwrap();
    assert_eq!(smtp.received().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_branding_notices_and_events_that_are_not_emails() {
    let t = TestDb::new().await;
    let clinic = clinic(&t.db, false).await;
    let smtp = SmtpServer::start().await;
    let reset =
        enqueue(&t.db, link(LinkPurpose::Reset, "ann@example.com", Some(&clinic.patient_id), "reset-TOKEN")).await;
    let changed =
        enqueue(&t.db, DomainEvent::PasswordChangedNotice { account_id: "a1".into(), to: "ann@example.com".into() })
            .await;
    let notice =
        enqueue(&t.db, DomainEvent::EmailChangeNotice { account_id: "a1".into(), to: "old@example.com".into() }).await;
    let completed = enqueue(
        &t.db,
        DomainEvent::PortalRegistrationCompleted {
            account_id: "a1".into(),
            patient_id: clinic.patient_id.clone(),
            relation: Relation::Myself,
        },
    )
    .await;
    let email_changed =
        enqueue(&t.db, DomainEvent::PortalEmailChanged { account_id: "a1".into(), patient_id: None, relation: None })
            .await;

    let worker = Worker::new(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings());
    let report = worker.deliver_due(&CancellationToken::new()).await.unwrap();
    assert_eq!((report.claimed, report.delivered, report.retrying, report.dead), (5, 5, 0, 0));

    let got = smtp.received();
    assert_eq!(got.len(), 3, "three e-mails; the other two events are not e-mails");
    let by_id = |id: &str| got.iter().find(|m| m.message_id() == message_id_of(id)).expect("its e-mail").clone();

    let m = by_id(&reset);
    assert_eq!(m.subject(), "Reset your password for Sunrise Health's patient portal");
    let text = m.text();
    assert!(text.contains(&format!("{PUBLIC_URL}/portal/set-password/reset-TOKEN")), "{text}");
    assert!(text.contains("1 hour"), "{text}");
    assert!(text.contains("(555) 010-1000"), "the company's phone");
    assert!(m.html().contains(&format!(r#"<img src="{PUBLIC_URL}/branding/logo""#)));

    let m = by_id(&changed);
    assert_eq!(m.subject(), "Your password for Sunrise Health's patient portal was changed");
    assert!(m.text().contains(&format!("{PUBLIC_URL}/portal")));

    let m = by_id(&notice);
    assert_eq!(m.rcpt_to, vec!["old@example.com".to_owned()]);
    assert!(m.subject().contains("new e-mail address"), "{}", m.subject());

    for m in &got {
        assert_no_health_information(&m.data, &[m.text(), m.html(), m.subject()]);
    }
    for id in [&reset, &changed, &notice, &completed, &email_changed] {
        let e = event(&t.db, id).await;
        assert!(e.delivered_at.is_some(), "{id}");
        assert!(!e.payload.contains("TOKEN"));
    }
    assert_eq!(pending(&t.db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_transport_writes_one_eml_per_message() {
    let t = TestDb::new().await;
    clinic(&t.db, false).await;
    let root = std::env::temp_dir().join(format!("portal-notify-mail-{}", portal_store::ids::new_id()));
    let dir = root.join("data/mail");
    let mailer = Mailer::from_url(&format!("file://{}", dir.display())).unwrap();
    assert!(!dir.exists(), "nothing is created before there is something to write");
    let a = enqueue(&t.db, link(LinkPurpose::Invitation, "ann@example.com", None, "file-TOKEN-a")).await;
    let b = enqueue(&t.db, link(LinkPurpose::Registration, "bob@example.com", None, "file-TOKEN-b")).await;
    enqueue(
        &t.db,
        DomainEvent::PortalEmailChanged {
            account_id: "a1".into(),
            patient_id: None,
            relation: Some(Relation::Guardian),
        },
    )
    .await;

    let worker = Worker::new(t.db.clone(), mailer, settings());
    let report = worker.deliver_due(&CancellationToken::new()).await.unwrap();
    assert_eq!(report.delivered, 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700, "owner only");
    }

    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "one file per e-mail: {files:?}");
    assert!(files.iter().all(|f| f.extension().is_some_and(|x| x == "eml")), "{files:?}");
    let mut seen = Vec::new();
    for f in &files {
        let m = common::smtp::Received {
            mail_from: String::new(),
            rcpt_to: vec![],
            data: std::fs::read_to_string(f).unwrap(),
        };
        let id = m.message_id();
        if id == message_id_of(&a) {
            assert!(m.text().contains(&format!("{PUBLIC_URL}/portal/set-password/file-TOKEN-a")));
        } else {
            assert_eq!(id, message_id_of(&b));
            assert!(m.text().contains(&format!("{PUBLIC_URL}/portal/register/complete/file-TOKEN-b")));
        }
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 2);
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_claims_nothing_more() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    let stop = CancellationToken::new();
    let worker = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), settings(), stop.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker).await.expect("stops promptly").unwrap();
    let id = enqueue(&t.db, link(LinkPurpose::Reset, "ann@example.com", None, "after-stop")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e = event(&t.db, &id).await;
    assert_eq!((e.attempts, e.delivered_at), (0, None));
    assert!(smtp.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_messages_in_flight_and_hands_back_the_rest() {
    let t = TestDb::new().await;
    let smtp = SmtpServer::start().await;
    smtp.reply_delay(Duration::from_millis(800));
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            enqueue(&t.db, link(LinkPurpose::Reset, &format!("p{i}@example.com"), None, &format!("stop-{i}"))).await,
        );
    }
    // Two messages at a time: the first two are in flight together when the worker is stopped.
    let mut s = settings();
    s.send_concurrency = 2;
    let stop = CancellationToken::new();
    let worker = portal_notify::spawn(t.db.clone(), Mailer::from_url(&smtp.url()).unwrap(), s, stop.clone());
    smtp.wait_for(1, WAIT).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("stops once the messages in flight are done")
        .unwrap();

    let in_flight: Vec<String> = smtp.received().iter().map(|m| m.message_id()).collect();
    assert_eq!(in_flight.len(), 2, "the group in flight was finished, nothing more was sent");
    for id in &ids {
        let e = event(&t.db, id).await;
        if in_flight.contains(&message_id_of(id)) {
            assert!(e.delivered_at.is_some(), "a message in flight was finished and recorded");
        } else {
            assert_eq!((e.attempts, e.claimed_until, e.delivered_at), (0, None, None), "handed back untouched");
        }
    }
    assert_eq!(pending(&t.db).await, 3);
}
