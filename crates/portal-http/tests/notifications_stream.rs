//! Staff notifications over the wire (seed 000): the toast stream (`/notifications/stream`)
//! delivers a toast written for a signed-in person within a second, once however many tabs
//! they have open, sends the toasts that were waiting when it opens, and never another person's;
//! the list page and the API mark read only one's own; and on PostgreSQL a toast raised by one
//! replica's worker reaches a browser connected to another replica (LISTEN/NOTIFY).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::{TestApp, TestRequest, add_to_care_team, create_location, create_patient, create_staff, form_body};
use http_body_util::BodyExt;
use portal_core::events::{DomainEvent, Relation};
use portal_core::time_util::now_utc;
use portal_http::AppState;
use portal_store::notifications::{self as store, NotificationRow, RuleRow};
use portal_store::testing::TestDb;
use portal_store::{Backend, Db, PoolOptions, ids};
use serde_json::Value;
use tower::ServiceExt;

const SECOND: Duration = Duration::from_secs(1);

/// An open event stream, read frame by frame.
struct EventStream {
    body: Body,
    buf: String,
}

impl EventStream {
    async fn open(router: &axum::Router, token: &str) -> EventStream {
        let mut req = Request::builder()
            .uri("/notifications/stream")
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([10, 9, 9, 9], 40000))));
        let res = router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        EventStream { body: res.into_body(), buf: String::new() }
    }

    /// The next `toast` event within `wait`, if any (keep-alive comments are skipped).
    async fn next_toast(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let is_toast = block.lines().any(|l| l == "event: toast");
                let data: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                if is_toast && !data.is_empty() {
                    return Some(serde_json::from_str(&data.join("\n")).expect("toast JSON"));
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await.ok()??.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }
}

struct Clinic {
    app: TestApp,
    location: String,
    ann: (String, String),
    ben: (String, String),
}

async fn clinic() -> Clinic {
    let app = TestApp::new().await;
    let location = create_location(app.db(), "Main").await;
    let ann = create_staff(&app.state, "Ann Nurse", "ann@example.test", "clinician", &[&location]).await;
    let ben = create_staff(&app.state, "Ben Desk", "ben@example.test", "front_desk", &[&location]).await;
    let ann_token = app.sign_in("ann@example.test", common::PASSWORD).await;
    let ben_token = app.sign_in("ben@example.test", common::PASSWORD).await;
    Clinic { app, location, ann: (ann, ann_token), ben: (ben, ben_token) }
}

fn notification(staff_id: &str, location: &str, severity: &str) -> NotificationRow {
    NotificationRow {
        id: ids::new_id(),
        staff_id: staff_id.to_owned(),
        rule_id: None,
        event_id: None,
        patient_id: None,
        location_id: location.to_owned(),
        severity: severity.to_owned(),
        title: "New request".into(),
        body: "A request is waiting.".into(),
        link: Some("/queue".into()),
        toast: true,
        email: false,
        created_at: now_utc(),
        toasted_at: None,
        read_at: None,
    }
}

/// Writes a notification as delivery does: in a transaction that signals its toast on commit.
async fn write(state: &AppState, row: NotificationRow) -> String {
    let id = row.id.clone();
    let rows = vec![row];
    let written = state
        .db()
        .write(move |tx| {
            Box::pin(async move {
                let w = store::insert_notifications(tx, &rows).await?;
                portal_notify::hub::notify(tx, &w).await?;
                Ok::<_, portal_store::StoreError>(w)
            })
        })
        .await
        .unwrap();
    state.hub().committed(state.db().backend(), &written);
    id
}

/// On PostgreSQL, waits until the state's LISTEN connection is up.
async fn listening(state: &AppState) {
    if state.db().backend() != Backend::Postgres {
        return;
    }
    for _ in 0..100 {
        if state.hub().is_listening() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub never listened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toast_reaches_its_person_within_a_second_and_nobody_else() {
    let c = clinic().await;
    listening(&c.app.state).await;
    let mut ann = EventStream::open(&c.app.router, &c.ann.1).await;
    let mut ben = EventStream::open(&c.app.router, &c.ben.1).await;
    let id = write(&c.app.state, notification(&c.ann.0, &c.location, "critical")).await;
    let toast = ann.next_toast(SECOND).await.expect("the toast within a second");
    assert_eq!(toast["id"], id.as_str());
    assert_eq!(toast["title"], "New request");
    assert_eq!(toast["body"], "A request is waiting.");
    assert_eq!(toast["severity"], "critical");
    assert_eq!(toast["colour"], "red");
    assert_eq!(toast["link"], "/queue");
    // Refused side: another person's stream gets nothing.
    assert!(ben.next_toast(SECOND).await.is_none(), "Ben must not see Ann's toast");
    // And Ann does not get it twice.
    assert!(ann.next_toast(Duration::from_millis(500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_of_one_person_show_one_toast() {
    let c = clinic().await;
    listening(&c.app.state).await;
    let mut a = EventStream::open(&c.app.router, &c.ann.1).await;
    let mut b = EventStream::open(&c.app.router, &c.ann.1).await;
    for severity in ["warning", "information"] {
        write(&c.app.state, notification(&c.ann.0, &c.location, severity)).await;
        let wait = Duration::from_millis(1500);
        let (x, y) = tokio::join!(a.next_toast(wait), b.next_toast(wait));
        let got: Vec<Value> = [x, y].into_iter().flatten().collect();
        assert_eq!(got.len(), 1, "one toast across both tabs: {got:?}");
        assert_eq!(got[0]["colour"], if severity == "warning" { "yellow" } else { "blue" });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_toasts_arrive_when_a_stream_opens_and_only_once() {
    let c = clinic().await;
    let first = write(&c.app.state, notification(&c.ann.0, &c.location, "warning")).await;
    let second = write(&c.app.state, notification(&c.ann.0, &c.location, "information")).await;
    // Not a toast: never sent.
    let mut quiet = notification(&c.ann.0, &c.location, "critical");
    quiet.toast = false;
    write(&c.app.state, quiet).await;
    let mut s = EventStream::open(&c.app.router, &c.ann.1).await;
    let a = s.next_toast(SECOND).await.expect("the first pending toast");
    let b = s.next_toast(SECOND).await.expect("the second pending toast");
    assert_eq!((a["id"].as_str(), b["id"].as_str()), (Some(first.as_str()), Some(second.as_str())));
    assert!(s.next_toast(Duration::from_millis(500)).await.is_none());
    // A new tab later: they were shown already.
    let mut again = EventStream::open(&c.app.router, &c.ann.1).await;
    assert!(again.next_toast(Duration::from_millis(700)).await.is_none());
    // Ben's stream has nothing of Ann's.
    let mut ben = EventStream::open(&c.app.router, &c.ben.1).await;
    assert!(ben.next_toast(Duration::from_millis(500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_needs_a_session() {
    let c = clinic().await;
    let res = c.app.send(TestRequest::get("/notifications/stream")).await;
    res.assert_status(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_when_the_server_shuts_down() {
    let c = clinic().await;
    let mut s = EventStream::open(&c.app.router, &c.ann.1).await;
    c.app.state.begin_shutdown();
    let end = tokio::time::timeout(SECOND, async {
        while let Some(f) = s.body.frame().await {
            f.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the stream must end on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_page_and_the_api_mark_read_only_ones_own() {
    let c = clinic().await;
    let app = &c.app;
    let mine = write(&app.state, notification(&c.ann.0, &c.location, "critical")).await;
    let other = write(&app.state, notification(&c.ann.0, &c.location, "information")).await;
    let bens = write(&app.state, notification(&c.ben.0, &c.location, "warning")).await;

    // The header shows the count; the page lists one's own, unread marked.
    let page = app.send(TestRequest::get("/notifications").bearer(Some(&c.ann.1))).await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains(r#"id="header-notifications""#), "header link");
    assert!(
        html.contains(r#"data-unread-url="/api/v1/notifications/unread-count" aria-live="polite">2</span>"#),
        "badge of 2"
    );
    assert!(
        html.contains(&format!(r#"id="notification-{mine}""#))
            && html.contains(&format!(r#"id="notification-{other}""#))
    );
    assert!(!html.contains(&bens), "not Ben's");
    assert!(html.contains("notification-unread") && html.contains("pill-red") && html.contains("Critical"));
    assert!(html.contains(r#"src="/static/toasts.js""#));

    // Refused side: Ben cannot mark Ann's, by page or API: 404 like a missing one.
    let post = |token: &str, uri: String| {
        TestRequest::post(uri).bearer(Some(token)).raw(Some("application/x-www-form-urlencoded"), form_body(&[]))
    };
    app.send(post(&c.ben.1, format!("/notifications/{mine}/read"))).await.assert_status(404);
    app.send(TestRequest::post(format!("/api/v1/notifications/{mine}/read")).bearer(Some(&c.ben.1)))
        .await
        .assert_problem(404);
    app.send(TestRequest::post(format!("/api/v1/notifications/{}/read", ids::new_id())).bearer(Some(&c.ann.1)))
        .await
        .assert_problem(404);
    let count = app.send(TestRequest::get("/api/v1/notifications/unread-count").bearer(Some(&c.ann.1))).await;
    assert_eq!(count.json()["unread"], 2);

    // Ann marks one by the page, then the rest by the API.
    let res = app.send(post(&c.ann.1, format!("/notifications/{mine}/read"))).await;
    res.assert_status(303);
    let list = app.send(TestRequest::get("/api/v1/notifications").bearer(Some(&c.ann.1))).await;
    list.assert_status(200);
    let body = list.json();
    let items = body["notifications"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().find(|n| n["id"] == mine.as_str()).unwrap()["read_at"].is_string());
    assert_eq!(items.iter().find(|n| n["id"] == other.as_str()).unwrap()["read_at"], Value::Null);
    let all = app.send(TestRequest::post("/api/v1/notifications/read-all").bearer(Some(&c.ann.1))).await;
    assert_eq!(all.json()["marked"], 1);
    let count = app.send(TestRequest::get("/api/v1/notifications/unread-count").bearer(Some(&c.ann.1))).await;
    assert_eq!(count.json()["unread"], 0);
    // Ben's is untouched.
    let count = app.send(TestRequest::get("/api/v1/notifications/unread-count").bearer(Some(&c.ben.1))).await;
    assert_eq!(count.json()["unread"], 1);
    // Mark-all by the page.
    app.send(post(&c.ben.1, "/notifications/read-all".into())).await.assert_status(303);
    let count = app.send(TestRequest::get("/api/v1/notifications/unread-count").bearer(Some(&c.ben.1))).await;
    assert_eq!(count.json()["unread"], 0);
    // A `before` that is not a time is a 422 naming it.
    app.send(TestRequest::get("/api/v1/notifications?before=yesterday").bearer(Some(&c.ann.1)))
        .await
        .assert_problem(422);
}

/// A registration of a patient on Ann's care team, with a rule that toasts it (critical) to the
/// care team, delivered by a worker of `a` that signals through `a`'s hub. The worker runs until
/// the returned token is cancelled.
async fn registration_delivered_by(a: &AppState, c: &Clinic) -> (portal_notify::CancellationToken, std::path::PathBuf) {
    let patient = create_patient(a.db(), "Zoe", "Quinn", "1990-01-01", &c.location).await;
    add_to_care_team(a.db(), &patient, &c.ann.0).await;
    let now = now_utc();
    let rule = RuleRow {
        id: ids::new_id(),
        location_id: c.location.clone(),
        event: "registration_completed".into(),
        name: "Registrations".into(),
        starts_on: now.date() - time::Duration::days(1),
        ends_on: None,
        severity: "critical".into(),
        recipient_users: String::new(),
        recipient_care_team: true,
        recipient_roles: String::new(),
        title: "{patient_name} registered".into(),
        message: "Registration completed at {location}.".into(),
        toast: true,
        email: false,
        deleted_at: None,
        created_by_name: "Root".into(),
        created_at: now,
        updated_at: now,
    };
    a.db().write(move |tx| Box::pin(async move { store::insert_rule(tx, &rule).await })).await.unwrap();

    let event = DomainEvent::PortalRegistrationCompleted {
        account_id: ids::new_id(),
        patient_id: patient.clone(),
        relation: Relation::Myself,
    };
    a.db()
        .write(move |tx| Box::pin(async move { portal_store::outbox::enqueue_event(tx, &event).await }))
        .await
        .unwrap();
    let mail_dir = std::env::temp_dir().join(format!("portal-mail-{}", ids::new_id()));
    let mailer = portal_notify::Mailer::from_url(&format!("file://{}", mail_dir.display())).unwrap();
    let mut settings =
        portal_notify::Settings::new("https://portal.example.test", "Portal <portal@example.test>").unwrap();
    settings.poll_interval = Duration::from_millis(50);
    settings.hub = a.hub().clone();
    let stop = portal_notify::CancellationToken::new();
    let _worker = portal_notify::spawn(a.db().clone(), mailer, settings, stop.clone());

    (stop, mail_dir)
}

/// The worker's delivery of an event that a rule toasts reaches the recipient's open stream
/// (SQLite: in-process after commit; PostgreSQL: through NOTIFY and this process's LISTEN).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toast_delivered_by_the_worker_reaches_the_stream() {
    let c = clinic().await;
    listening(&c.app.state).await;
    let mut ann = EventStream::open(&c.app.router, &c.ann.1).await;
    let mut ben = EventStream::open(&c.app.router, &c.ben.1).await;
    let (stop, mail_dir) = registration_delivered_by(&c.app.state, &c).await;
    let toast = ann.next_toast(Duration::from_secs(10)).await.expect("the toast");
    assert_eq!(toast["title"], "Zoe Quinn registered");
    assert_eq!((toast["severity"].as_str(), toast["colour"].as_str()), (Some("critical"), Some("red")));
    assert!(ben.next_toast(SECOND).await.is_none(), "not a recipient");
    stop.cancel();
    let _ = std::fs::remove_dir_all(mail_dir);
}

/// A second replica on the clinic's PostgreSQL database (its own pools and hub), once both
/// replicas listen for signals.
async fn second_replica(c: &Clinic) -> (AppState, axum::Router) {
    let db_b =
        Db::connect(&c.app.test_db.url, &PoolOptions { max_connections: 4, ..PoolOptions::default() }).await.unwrap();
    let b = AppState::new(db_b, common::config_for(&c.app.test_db, None));
    let router_b = portal_http::build(b.clone());
    listening(&c.app.state).await;
    listening(&b).await;
    (b, router_b)
}

/// Replicas: two app states, each with its own pools and hub, on one PostgreSQL database. A
/// registration delivered by replica A's worker reaches Ann's stream, open on replica B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toast_raised_on_one_replica_reaches_a_stream_on_another() {
    if TestDb::backend() != Backend::Postgres {
        eprintln!("skipped: replicas share a PostgreSQL database (PORTAL_TEST_BACKEND=postgres)");
        return;
    }
    let c = clinic().await;
    let a = &c.app.state;
    let (b, router_b) = second_replica(&c).await;

    let mut on_b = EventStream::open(&router_b, &c.ann.1).await;
    let mut ben_on_b = EventStream::open(&router_b, &c.ben.1).await;
    let (stop, mail_dir) = registration_delivered_by(a, &c).await;
    let toast = on_b.next_toast(Duration::from_secs(10)).await.expect("the toast on replica B");
    assert_eq!(toast["title"], "Zoe Quinn registered");
    assert_eq!(toast["colour"], "red");
    assert!(ben_on_b.next_toast(SECOND).await.is_none(), "not a recipient");
    stop.cancel();
    b.begin_shutdown();
    let _ = std::fs::remove_dir_all(mail_dir);
}

/// The LISTEN connection is re-established when it drops (here: PostgreSQL ends it), and toasts
/// raised on the other replica reach this one's streams again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listen_connection_is_re_established() {
    if TestDb::backend() != Backend::Postgres {
        eprintln!("skipped: LISTEN is PostgreSQL's");
        return;
    }
    let c = clinic().await;
    let a = &c.app.state;
    let (b, router_b) = second_replica(&c).await;
    // Every LISTEN connection of this test database is ended.
    c.app
        .exec_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'",
        )
        .await;
    // Noticed (the stream ends; the hub waits a moment before reconnecting), then listening again.
    let mut noticed = false;
    for _ in 0..100 {
        if !b.hub().is_listening() {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(noticed, "the dropped LISTEN connection went unnoticed");
    listening(&b).await;
    let mut on_b = EventStream::open(&router_b, &c.ann.1).await;
    let id = write(a, notification(&c.ann.0, &c.location, "warning")).await;
    let toast = on_b.next_toast(Duration::from_secs(3)).await.expect("the toast after reconnecting");
    assert_eq!(toast["id"], id.as_str());
    b.begin_shutdown();
}
