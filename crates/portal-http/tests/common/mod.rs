//! Shared harness of the HTTP integration tests: an app on a fresh database driven in-process
//! with `tower::ServiceExt::oneshot`, a request builder, response checks, a fixture world
//! (two locations, a staff user of every kind, patients, contacts, a care team) made through
//! the real use cases, and the API's routes read from the OpenAPI document.
//!
//! Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod serve;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use portal_auth::throttle::IpLimiter;
use portal_core::Actor;
use portal_http::AppState;
use portal_http::config::{Config, ConfigArgs};
use portal_store::testing::TestDb;
use portal_store::{Db, DbConn};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The password of every fixture account (long, not on the common-passwords list).
pub const PASSWORD: &str = "correct horse battery staple";

/// A PNG signature followed by enough bytes to count as an image.
pub fn png_bytes() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(b"\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89");
    png.extend_from_slice(&[0u8; 16]);
    png
}

/// The smallest shape LogoImage accepts as a JPEG: SOI marker ... EOI marker.
pub fn jpeg_bytes() -> Vec<u8> {
    vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0xFF, 0xD9]
}

// ---------------------------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------------------------

pub struct TestApp {
    pub test_db: TestDb,
    pub state: AppState,
    pub router: Router,
    next_ip: AtomicU32,
}

pub fn config_for(test_db: &TestDb, public_url: Option<&str>) -> Config {
    Config::load(&ConfigArgs {
        database_url: Some(test_db.url.clone()),
        public_url: public_url.map(str::to_owned),
        ..Default::default()
    })
    .expect("test configuration")
}

impl TestApp {
    /// An app whose sign-in limiter is generous, so that fixtures and tables can sign in freely.
    pub async fn new() -> Self {
        Self::build(Some(IpLimiter::new(100_000, Duration::from_secs(60))), None).await
    }

    /// An app with the production sign-in limiter (10 attempts a minute per address).
    pub async fn with_default_sign_in_limiter() -> Self {
        Self::build(None, None).await
    }

    /// An app whose configured public URL is `public_url` (e.g. an https:// one).
    pub async fn with_public_url(public_url: &str) -> Self {
        Self::build(Some(IpLimiter::new(100_000, Duration::from_secs(60))), Some(public_url)).await
    }

    async fn build(limiter: Option<IpLimiter>, public_url: Option<&str>) -> Self {
        let test_db = TestDb::new().await;
        let mut state = AppState::new(test_db.db.clone(), config_for(&test_db, public_url));
        if let Some(l) = limiter {
            state = state.with_sign_in_limiter(l);
        }
        let router = portal_http::build(state.clone());
        TestApp { test_db, state, router, next_ip: AtomicU32::new(1) }
    }

    pub fn db(&self) -> &Db {
        &self.test_db.db
    }

    /// A fresh peer address 10.x.y.z for each request that does not name one, so that the
    /// per-address sign-in limit only bites where a test means it to.
    fn fresh_ip(&self) -> IpAddr {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
    }

    pub async fn send(&self, req: TestRequest) -> TestResponse {
        let ip = req.ip.unwrap_or_else(|| self.fresh_ip());
        let mut builder = Request::builder().method(req.method.clone()).uri(req.uri.as_str());
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let mut request = builder.body(Body::from(req.body)).expect("a valid request");
        request.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 40000)));
        let res = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("response body").to_bytes();
        TestResponse { method: req.method, uri: req.uri, status, headers, body }
    }

    /// Signs a staff user in through the API and returns the bearer token.
    pub async fn sign_in(&self, email: &str, password: &str) -> String {
        let res = self.send(TestRequest::post("/api/v1/staff/sessions").json(&sign_in_body(email, password))).await;
        res.assert_status(201);
        res.json()["token"].as_str().expect("a token").to_owned()
    }

    /// Runs raw SQL (trusted test text) on the test database: for moving clocks.
    pub async fn exec_sql(&self, sql: &str) {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = self.db().write_conn().await.expect("a connection");
        match &mut conn {
            DbConn::Sqlite(c) => c.batch_execute(sql).await,
            DbConn::Pg(c) => c.batch_execute(sql).await,
        }
        .expect("test SQL");
    }
}

pub fn sign_in_body(email: &str, password: &str) -> Value {
    json!({ "email": email, "password": password })
}

// ---------------------------------------------------------------------------------------------
// Requests and responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct TestRequest {
    pub method: Method,
    pub uri: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
    pub ip: Option<IpAddr>,
}

impl TestRequest {
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self { method, uri: uri.into(), headers: vec![], body: vec![], ip: None }
    }

    pub fn get(uri: impl Into<String>) -> Self {
        Self::new(Method::GET, uri)
    }

    pub fn post(uri: impl Into<String>) -> Self {
        Self::new(Method::POST, uri)
    }

    pub fn put(uri: impl Into<String>) -> Self {
        Self::new(Method::PUT, uri)
    }

    pub fn delete(uri: impl Into<String>) -> Self {
        Self::new(Method::DELETE, uri)
    }

    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = HeaderName::from_bytes(name.as_ref().as_bytes()).expect("header name");
        let value = HeaderValue::from_str(value.as_ref()).expect("header value");
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value));
        self
    }

    /// `Authorization: Bearer TOKEN`, or nothing for `None` (an anonymous caller).
    pub fn bearer(self, token: Option<&str>) -> Self {
        match token {
            Some(t) => self.header("authorization", format!("Bearer {t}")),
            None => self,
        }
    }

    pub fn json(self, v: &Value) -> Self {
        self.raw(Some("application/json"), serde_json::to_vec(v).expect("JSON"))
    }

    /// A body with the given content type (none for `None`).
    pub fn raw(mut self, content_type: Option<&str>, bytes: impl Into<Vec<u8>>) -> Self {
        self.headers.retain(|(k, _)| *k != header::CONTENT_TYPE);
        if let Some(ct) = content_type {
            self = self.header("content-type", ct);
        }
        self.body = bytes.into();
        self
    }

    pub fn peer(mut self, ip: &str) -> Self {
        self.ip = Some(ip.parse().expect("an IP address"));
        self
    }
}

#[derive(Debug, Clone)]
pub struct TestResponse {
    pub method: Method,
    pub uri: String,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} {}: body is not JSON ({e}): {}", self.method, self.uri, self.text()))
    }

    /// Why this response is not a well-formed problem document for its own status, if it is not.
    pub fn problem_violation(&self) -> Option<String> {
        let ct = self.header("content-type").unwrap_or("");
        if ct != "application/problem+json" {
            return Some(format!("content-type is `{ct}`, not application/problem+json; body: {}", self.text()));
        }
        let v: Value = match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => return Some(format!("problem body is not JSON ({e}): {}", self.text())),
        };
        if v["status"].as_u64() != Some(u64::from(self.code())) {
            return Some(format!("problem `status` is {} but the HTTP status is {}", v["status"], self.code()));
        }
        for field in ["type", "title", "detail"] {
            if !v[field].is_string() {
                return Some(format!("problem has no string `{field}`: {v}"));
            }
        }
        None
    }

    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.code(), expected, "{} {}: unexpected status; body: {}", self.method, self.uri, self.text());
        self
    }

    /// Asserts `expected` and a matching problem document; returns the document.
    #[track_caller]
    pub fn assert_problem(&self, expected: u16) -> Value {
        self.assert_status(expected);
        if let Some(v) = self.problem_violation() {
            panic!("{} {}: {v}", self.method, self.uri);
        }
        self.json()
    }

    /// The `field` names listed in a 422 problem's `errors`.
    #[track_caller]
    pub fn error_fields(&self) -> BTreeSet<String> {
        let p = self.assert_problem(422);
        p["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no `errors` in {p}"))
            .iter()
            .map(|e| e["field"].as_str().expect("field").to_owned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The API's routes, as the OpenAPI document lists them
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiRoute {
    /// Upper case: GET, POST, PUT, DELETE...
    pub method: String,
    /// The template, e.g. `/api/v1/patients/{id}`.
    pub path: String,
    /// The declared request body's content type, if the operation takes a body.
    pub body_type: Option<String>,
    pub operation_id: Option<String>,
}

const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every operation of `portal_http::app::openapi()`.
pub fn api_routes() -> Vec<ApiRoute> {
    let doc = serde_json::to_value(portal_http::app::openapi()).expect("OpenAPI serialises");
    routes_of(&doc)
}

/// Every operation of an OpenAPI document given as JSON.
pub fn routes_of(doc: &Value) -> Vec<ApiRoute> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in HTTP_METHODS {
            if let Some(op) = item.get(m) {
                let body_type =
                    op.get("requestBody").and_then(|b| b["content"].as_object()).and_then(|c| c.keys().next().cloned());
                out.push(ApiRoute {
                    method: m.to_ascii_uppercase(),
                    path: path.clone(),
                    body_type,
                    operation_id: op["operationId"].as_str().map(str::to_owned),
                });
            }
        }
    }
    out.sort();
    out
}

/// The `{name}` parameters of a path template, in order.
pub fn template_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter(|s| s.starts_with('{') && s.ends_with('}'))
        .map(|s| s[1..s.len() - 1].to_owned())
        .collect()
}

/// Fills a template's parameters with the given (already URL-safe) values.
pub fn fill(template: &str, params: &[(String, String)]) -> String {
    let mut out = template.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    assert!(!out.contains('{'), "unfilled parameter in {out} (template {template})");
    out
}

// ---------------------------------------------------------------------------------------------
// Fixtures, made through the real use cases as the system (command line) actor
// ---------------------------------------------------------------------------------------------

/// Who makes a request. Every staff caller but `FrontDeskB` works at location A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Caller {
    Anonymous,
    /// Super Admin (every location) holding Manage Portal Settings.
    SuperAdmin,
    /// Super Admin without Manage Portal Settings.
    SuperAdminNoSettings,
    PracticeManager,
    Clinician,
    FrontDesk,
    Billing,
    /// Front desk of location B only: a staff user of another location.
    FrontDeskB,
    /// A portal user holding a grant (self) to patient A, the "own" patient.
    PortalA,
    /// A portal user holding a grant to patient B only: without a grant to patient A.
    PortalB,
}

impl Caller {
    pub const ALL: [Caller; 10] = [
        Caller::Anonymous,
        Caller::SuperAdmin,
        Caller::SuperAdminNoSettings,
        Caller::PracticeManager,
        Caller::Clinician,
        Caller::FrontDesk,
        Caller::Billing,
        Caller::FrontDeskB,
        Caller::PortalA,
        Caller::PortalB,
    ];

    pub const PORTAL: [Caller; 2] = [Caller::PortalA, Caller::PortalB];

    pub const STAFF: [Caller; 7] = [
        Caller::SuperAdmin,
        Caller::SuperAdminNoSettings,
        Caller::PracticeManager,
        Caller::Clinician,
        Caller::FrontDesk,
        Caller::Billing,
        Caller::FrontDeskB,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::SuperAdmin => "super admin",
            Caller::SuperAdminNoSettings => "super admin w/o Manage Portal Settings",
            Caller::PracticeManager => "practice manager (A)",
            Caller::Clinician => "clinician (A)",
            Caller::FrontDesk => "front desk (A)",
            Caller::Billing => "billing (A)",
            Caller::FrontDeskB => "front desk (B)",
            Caller::PortalA => "portal user of patient A",
            Caller::PortalB => "portal user of patient B (no grant to A)",
        }
    }

    fn spec(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Caller::Anonymous | Caller::PortalA | Caller::PortalB => unreachable!("not a staff account"),
            Caller::SuperAdmin => ("Sam Super", "super@example.test", "super_admin"),
            Caller::SuperAdminNoSettings => ("Sid Super", "super2@example.test", "super_admin"),
            Caller::PracticeManager => ("Pat Manager", "manager@example.test", "practice_manager"),
            Caller::Clinician => ("Cleo Clinician", "clinician@example.test", "clinician"),
            Caller::FrontDesk => ("Fran Desk", "desk@example.test", "front_desk"),
            Caller::Billing => ("Bill Ing", "billing@example.test", "billing"),
            Caller::FrontDeskB => ("Bea Desk", "desk-b@example.test", "front_desk"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub name: String,
    /// The bearer token of its session (empty for accounts the world does not sign in).
    pub token: String,
}

pub async fn create_location(db: &Db, name: &str) -> String {
    portal_practice::company::create_location(
        db,
        &Actor::system(),
        portal_practice::company::LocationInput {
            name: name.to_owned(),
            address_line1: Some("1 Main St".into()),
            city: Some("Springfield".into()),
            state: Some("IL".into()),
            zip: Some("62701".into()),
            phone: None,
            time_zone: "America/Chicago".into(),
        },
    )
    .await
    .expect("create location")
    .id
}

pub async fn create_staff(state: &AppState, name: &str, email: &str, role: &str, locations: &[&str]) -> String {
    portal_auth::staff::create(
        state.db(),
        &state.app().hasher,
        &Actor::system(),
        portal_auth::staff::StaffInput {
            name: name.to_owned(),
            email: email.to_owned(),
            role: role.to_owned(),
            location_ids: locations.iter().map(|l| (*l).to_owned()).collect(),
            active: true,
            password: Some(PASSWORD.to_owned()),
        },
    )
    .await
    .expect("create staff")
    .row
    .id
}

pub async fn grant(db: &Db, staff_id: &str, permission: portal_core::staff::PortalPermission) {
    portal_auth::staff::set_portal_permission(db, &Actor::system(), staff_id, permission, true)
        .await
        .expect("grant portal permission");
}

pub fn patient_input(first: &str, last: &str, dob: &str, location: &str) -> portal_practice::patients::PatientInput {
    portal_practice::patients::PatientInput {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        date_of_birth: dob.to_owned(),
        email: Some(format!("{}.{}@example.test", first.to_lowercase(), last.to_lowercase())),
        phone: Some("555-010-1234".into()),
        location_id: location.to_owned(),
        ..Default::default()
    }
}

pub async fn create_patient(db: &Db, first: &str, last: &str, dob: &str, location: &str) -> String {
    portal_practice::patients::create(db, &Actor::system(), patient_input(first, last, dob, location))
        .await
        .expect("create patient")
        .id
}

pub fn contact_body(first: &str) -> Value {
    json!({ "kind": "guardian", "first_name": first, "last_name": "Contact", "relation": "Parent",
            "email": "contact@example.test", "phone": "555-010-9999" })
}

pub async fn create_contact(db: &Db, patient_id: &str, first: &str) -> String {
    portal_practice::patients::add_contact(
        db,
        &Actor::system(),
        patient_id,
        portal_practice::patients::ContactInput {
            kind: "guardian".into(),
            first_name: first.to_owned(),
            last_name: "Contact".into(),
            relation: Some("Parent".into()),
            email: None,
            phone: None,
        },
    )
    .await
    .expect("create contact")
    .id
}

pub async fn add_to_care_team(db: &Db, patient_id: &str, staff_id: &str) {
    portal_practice::patients::add_care_team_member(db, &Actor::system(), patient_id, staff_id, "Primary clinician")
        .await
        .expect("add care-team member");
}

/// Every event in the outbox, oldest first (read without claiming).
pub async fn outbox_events(db: &Db) -> Vec<portal_core::events::DomainEvent> {
    let mut conn = db.read().await.expect("read");
    let kinds = ["account_link_issued", "password_changed_notice", "email_change_notice"];
    portal_store::portal_accounts::queued_events(&mut conn, &kinds)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| serde_json::from_str(&e.payload).expect("event payload"))
        .collect()
}

/// The raw token of the newest link e-mailed to `to`, as the e-mail worker would read it.
pub async fn last_link_to(db: &Db, to: &str) -> String {
    outbox_events(db)
        .await
        .into_iter()
        .filter_map(|e| match e {
            portal_core::events::DomainEvent::AccountLinkIssued { to: t, token, .. } if t == to => Some(token),
            _ => None,
        })
        .next_back()
        .unwrap_or_else(|| panic!("no link was sent to {to}"))
}

/// Turns the portal on, gives the patient a ZIP code and portal access, invites them, completes
/// the link with `username` and [`PASSWORD`] and signs in: a portal user holding a self grant,
/// with a live session (the account's `token`).
pub async fn portal_user(app: &TestApp, patient_id: &str, username: &str) -> Account {
    let db = app.db().clone();
    db.write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, true).await }))
        .await
        .expect("use portal");
    // Ids are random UUIDs made by the store: safe to place in the test's SQL text.
    app.exec_sql(&format!("UPDATE patients SET zip = '62701' WHERE id = '{patient_id}'")).await;
    let pid = patient_id.to_owned();
    db.write(move |tx| Box::pin(async move { portal_store::portal_access::set_portal_access(tx, &pid, true).await }))
        .await
        .expect("enable access");
    let sent = portal_auth::invitations::invite(
        &db,
        &Actor::system(),
        patient_id,
        portal_auth::invitations::InviteInput {
            to: portal_auth::invitations::InviteTo::Patient,
            relation: None,
            scopes: None,
            ends_on: None,
            message: None,
            intake_form_ids: vec![],
            phi_warning_acknowledged: false,
        },
    )
    .await
    .expect("invite");
    let token = last_link_to(&db, &sent.to).await;
    let state = &app.state;
    let done = portal_auth::portal_links::accept_link(
        &db,
        &state.app().hasher,
        &token,
        portal_auth::portal_links::AcceptLinkInput { username: Some(username.to_owned()), password: PASSWORD.into() },
        None,
    )
    .await
    .expect("accept invitation");
    let signed = portal_auth::portal_sessions::sign_in_portal(
        &db,
        &state.app().hasher,
        &state.app().portal_sessions,
        username,
        PASSWORD,
        None,
        None,
    )
    .await
    .expect("portal sign-in");
    Account { id: done.account_id, email: sent.to, name: username.to_owned(), token: signed.token }
}

/// A random, well-formed id that names nothing.
pub fn missing_id() -> String {
    portal_store::ids::new_id()
}

/// Two locations, a signed-in staff user of every kind, two staff users that are the targets
/// of staff-management calls, a patient (with a contact and a care team) at each location.
pub struct World {
    pub app: TestApp,
    pub location_a: String,
    pub location_b: String,
    pub accounts: HashMap<Caller, Account>,
    /// Front desk of location A, never signed in: what staff-management calls act on.
    pub target_a: Account,
    /// Front desk of location B, never signed in.
    pub target_b: Account,
    pub patient_a: String,
    pub patient_b: String,
    pub contact_a: String,
    pub contact_b: String,
    counter: AtomicU32,
    /// The conversations of the secure-messaging rows, made on first use (see
    /// [`World::conversations`]): tests that never touch messaging do not pay for them.
    conversations: tokio::sync::OnceCell<Conversations>,
    /// The requests of the request-queue rows, made on first use (see [`World::requests`]).
    requests: tokio::sync::OnceCell<Requests>,
    /// The notification rules of the rules rows (own: location A's, foreign: location B's),
    /// made on first use (see [`World::rule`]).
    rules: tokio::sync::OnceCell<(String, String)>,
}

/// The requests (and helper tasks) the authorization table aims at: "own" is portal user A's
/// prescription refill for patient A (location A), "foreign" portal user B's for patient B
/// (location B). Rows that use a request up (dismissal, reopening) get fresh ones.
#[derive(Debug, Clone)]
pub struct Requests {
    pub own: String,
    pub foreign: String,
    /// The refill note the helper opened for `own`.
    pub own_task: String,
    /// The refill note the helper opened for `foreign`.
    pub foreign_task: String,
}

/// The conversations the authorization table aims at, each with participants chosen so that
/// the table's expected answers are written by hand from "only participants read a
/// conversation" (seed 001: "regardless of your user permissions").
#[derive(Debug, Clone)]
pub struct Conversations {
    /// Portal, about patient A: the Clinician (Available for Portal Messages, on A's care team)
    /// and portal user A. The "own" record.
    pub portal_a: String,
    /// Portal, about patient B: the Front Desk of B (Available for Portal Messages) and portal
    /// user B. The "foreign" record.
    pub portal_b: String,
    /// Staff, about patient A: the Practice Manager, the Front Desk of A and Billing. Neither a
    /// Super Admin nor the Clinician is in it.
    pub staff_a: String,
    /// Staff, about no patient: the two Super Admins, and nobody else.
    pub super_admins: String,
}

impl World {
    pub async fn new() -> World {
        Self::on(TestApp::new().await).await
    }

    pub async fn on(app: TestApp) -> World {
        let db = app.db().clone();
        let location_a = create_location(&db, "Location A").await;
        let location_b = create_location(&db, "Location B").await;
        let mut accounts = HashMap::new();
        for caller in Caller::STAFF {
            let (name, email, role) = caller.spec();
            // Super admins are given location A only: they reach B through their role alone.
            let locs: &[&str] = if caller == Caller::FrontDeskB { &[&location_b] } else { &[&location_a] };
            let id = create_staff(&app.state, name, email, role, locs).await;
            accounts
                .insert(caller, Account { id, email: email.to_owned(), name: name.to_owned(), token: String::new() });
        }
        grant(&db, &accounts[&Caller::SuperAdmin].id, portal_core::staff::PortalPermission::ManagePortalSettings).await;
        for caller in Caller::STAFF {
            let email = accounts[&caller].email.clone();
            let token = app.sign_in(&email, PASSWORD).await;
            accounts.get_mut(&caller).expect("account").token = token;
        }
        let target = |name: &str, email: &str, id: String| Account {
            id,
            email: email.to_owned(),
            name: name.to_owned(),
            token: String::new(),
        };
        let ta = create_staff(&app.state, "Tara Target", "target-a@example.test", "front_desk", &[&location_a]).await;
        let tb = create_staff(&app.state, "Theo Target", "target-b@example.test", "front_desk", &[&location_b]).await;
        let patient_a = create_patient(&db, "Alice", "Anders", "1980-04-12", &location_a).await;
        let patient_b = create_patient(&db, "Bob", "Brooks", "1975-09-30", &location_b).await;
        let contact_a = create_contact(&db, &patient_a, "Ava").await;
        let contact_b = create_contact(&db, &patient_b, "Ben").await;
        add_to_care_team(&db, &patient_a, &accounts[&Caller::Clinician].id).await;
        add_to_care_team(&db, &patient_b, &tb).await;
        accounts.insert(Caller::PortalA, portal_user(&app, &patient_a, "alice.anders").await);
        accounts.insert(Caller::PortalB, portal_user(&app, &patient_b, "bob.brooks").await);
        World {
            app,
            location_a,
            location_b,
            accounts,
            target_a: target("Tara Target", "target-a@example.test", ta),
            target_b: target("Theo Target", "target-b@example.test", tb),
            patient_a,
            patient_b,
            contact_a,
            contact_b,
            counter: AtomicU32::new(0),
            conversations: tokio::sync::OnceCell::new(),
            requests: tokio::sync::OnceCell::new(),
            rules: tokio::sync::OnceCell::new(),
        }
    }

    pub fn db(&self) -> &Db {
        self.app.db()
    }

    pub fn account(&self, c: Caller) -> &Account {
        &self.accounts[&c]
    }

    pub fn token(&self, c: Caller) -> Option<&str> {
        self.accounts.get(&c).map(|a| a.token.as_str())
    }

    pub fn id(&self, c: Caller) -> &str {
        &self.accounts[&c].id
    }

    /// A number unique within this world, for e-mail addresses and names.
    pub fn unique(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    pub async fn send(&self, req: TestRequest) -> TestResponse {
        self.app.send(req).await
    }

    /// A request as `caller`.
    pub async fn send_as(&self, caller: Caller, req: TestRequest) -> TestResponse {
        self.app.send(req.bearer(self.token(caller))).await
    }

    pub fn location(&self, r: Rec) -> String {
        match r {
            Rec::Own => self.location_a.clone(),
            Rec::Foreign => self.location_b.clone(),
            Rec::Missing => missing_id(),
            _ => "not-an-id".into(),
        }
    }

    pub fn patient(&self, r: Rec) -> String {
        match r {
            Rec::Foreign => self.patient_b.clone(),
            Rec::Missing => missing_id(),
            Rec::Malformed => "not-an-id".into(),
            _ => self.patient_a.clone(),
        }
    }

    pub fn patient_body(&self, location: &str, first: &str, last: &str) -> Value {
        json!({
            "first_name": first, "last_name": last, "date_of_birth": "1990-02-03",
            "email": format!("{}@example.test", first.to_lowercase()), "phone": "(555) 010-2000",
            "address_line1": "2 Elm St", "city": "Springfield", "state": "IL", "zip": "62701",
            "location_id": location, "status": "active",
            // Updates change the e-mail to this address; the table tests permissions, not that rule.
            "confirm_email_change": true
        })
    }

    /// A valid request to one route, aimed at the record `rec` (see [`Rec`]); `variant` picks
    /// among a route's alternatives (the portal permission named in the path; the role of a
    /// created staff user). Records a destructive call uses up are made afresh on each call.
    /// Panics on a route it does not know: every route of the OpenAPI document must be here.
    pub async fn call(&self, method: &str, template: &str, rec: Rec, variant: &str) -> Call {
        let mut params: Vec<(String, String)> = Vec::new();
        // A query string, for routes that take what they look up there (never in the path).
        let mut query: Option<String> = None;
        let mut p = |k: &str, v: String| params.push((k.to_owned(), v));
        let db = self.db();
        let body = match (method, template) {
            ("POST", "/api/v1/staff/sessions") => Some(Payload::json(sign_in_body(&self.target_a.email, PASSWORD))),
            ("DELETE", "/api/v1/staff/sessions/current") | ("GET", "/api/v1/staff/me") => None,
            ("PUT", "/api/v1/staff/me/password") => {
                Some(Payload::json(json!({ "current_password": PASSWORD, "new_password": PASSWORD })))
            }
            ("GET", "/api/v1/settings/instance") => None,
            ("PUT", "/api/v1/settings/instance/use-portal") => {
                Some(Payload::json(json!({ "enabled": true, "acknowledge_fee": true })))
            }
            ("GET", "/api/v1/company") => None,
            ("PUT", "/api/v1/company") => Some(Payload::json(
                json!({ "name": "Springfield Family Clinic", "phone": "555-010-0000", "brand_by_location": false }),
            )),
            ("PUT", "/api/v1/company/logo") => {
                Some(Payload::Raw { content_type: Some("image/png"), bytes: png_bytes() })
            }
            ("GET", "/api/v1/locations") => None,
            ("POST", "/api/v1/locations") => Some(Payload::json(
                json!({ "name": format!("Clinic {}", self.unique()), "zip": "62701", "time_zone": "America/Chicago" }),
            )),
            ("GET", "/api/v1/locations/{id}") => {
                p("id", self.location(rec));
                None
            }
            ("PUT", "/api/v1/locations/{id}") => {
                let name = if rec == Rec::Foreign { "Location B" } else { "Location A" };
                p("id", self.location(rec));
                Some(Payload::json(json!({ "name": name, "address_line1": "1 Main St", "city": "Springfield",
                    "state": "IL", "zip": "62701", "time_zone": "America/Chicago" })))
            }
            ("PUT", "/api/v1/locations/{id}/logo") => {
                p("id", self.location(rec));
                Some(Payload::Raw { content_type: Some("image/png"), bytes: png_bytes() })
            }
            ("GET", "/api/v1/staff-users") => None,
            ("POST", "/api/v1/staff-users") => {
                let role = if variant.is_empty() { "front_desk" } else { variant };
                Some(Payload::json(json!({
                    "name": "New Person", "email": format!("new-{}@example.test", self.unique()), "role": role,
                    "location_ids": [self.location(rec)], "password": PASSWORD
                })))
            }
            ("GET", "/api/v1/staff-users/{id}") => {
                p("id", self.staff_target(rec));
                None
            }
            ("PUT", "/api/v1/staff-users/{id}") => {
                p("id", self.staff_target(rec));
                // The target's own values: the call changes nothing, so it ends no session.
                let (t, loc) = if rec == Rec::Foreign {
                    (&self.target_b, &self.location_b)
                } else {
                    (&self.target_a, &self.location_a)
                };
                Some(Payload::json(json!({ "name": t.name, "email": t.email, "role": "front_desk",
                    "location_ids": [loc], "active": true })))
            }
            ("PUT", "/api/v1/staff-users/{id}/portal-permissions/{permission}") => {
                p("id", self.staff_target(rec));
                let perm = match rec {
                    Rec::OwnWithMissingChild => "root".to_owned(),
                    _ if variant.is_empty() => "available_for_portal_messages".to_owned(),
                    _ => variant.to_owned(),
                };
                p("permission", perm);
                Some(Payload::json(json!({ "granted": true })))
            }
            ("GET", "/api/v1/patients") => None,
            ("POST", "/api/v1/patients") => {
                let n = self.unique();
                Some(Payload::json(self.patient_body(&self.location(rec), "Nora", &format!("New{n}"))))
            }
            ("GET", "/api/v1/patients/{id}") => {
                p("id", self.patient(rec));
                None
            }
            ("PUT", "/api/v1/patients/{id}") => {
                p("id", self.patient(rec));
                let (loc, first, last) = if rec == Rec::Foreign {
                    (&self.location_b, "Bob", "Brooks")
                } else {
                    (&self.location_a, "Alice", "Anders")
                };
                Some(Payload::json(self.patient_body(loc, first, last)))
            }
            ("POST", "/api/v1/patients/{id}/contacts") => {
                p("id", self.patient(rec));
                Some(Payload::json(contact_body("Carl")))
            }
            ("PUT", "/api/v1/patients/{id}/contacts/{contact_id}")
            | ("DELETE", "/api/v1/patients/{id}/contacts/{contact_id}") => {
                let patient = self.patient(rec);
                let contact = match rec {
                    // DELETE uses its contact up: each call gets one of its own.
                    Rec::Own if method == "DELETE" => create_contact(db, &self.patient_a, "Del").await,
                    Rec::Foreign if method == "DELETE" => create_contact(db, &self.patient_b, "Del").await,
                    Rec::Own => self.contact_a.clone(),
                    Rec::Foreign => self.contact_b.clone(),
                    Rec::OwnWithForeignChild => self.contact_b.clone(),
                    _ => missing_id(),
                };
                p("id", patient);
                p("contact_id", contact);
                if method == "PUT" { Some(Payload::json(contact_body("Ava"))) } else { None }
            }
            ("PUT", "/api/v1/patients/{id}/care-team/{staff_id}")
            | ("DELETE", "/api/v1/patients/{id}/care-team/{staff_id}") => {
                let patient = self.patient(rec);
                let member = match rec {
                    Rec::Foreign => self.target_b.id.clone(),
                    // A staff user of location B cannot serve a patient of A.
                    Rec::OwnWithForeignChild => self.target_b.id.clone(),
                    Rec::OwnWithMissingChild if method == "PUT" => missing_id(),
                    // Not on A's team: nothing to remove.
                    Rec::OwnWithMissingChild => self.target_b.id.clone(),
                    _ => self.target_a.id.clone(),
                };
                if method == "DELETE" {
                    match rec {
                        Rec::Own => add_to_care_team(db, &self.patient_a, &member).await,
                        Rec::Foreign => add_to_care_team(db, &self.patient_b, &member).await,
                        _ => {}
                    }
                }
                p("id", patient);
                p("staff_id", member);
                if method == "PUT" { Some(Payload::json(json!({ "team_role": "Care coordinator" }))) } else { None }
            }
            // --- The portal users' own API (h1): calls that use something up make it afresh. ---
            ("POST", "/api/v1/portal/sessions") => {
                self.reset_portal_passwords().await;
                Some(Payload::json(json!({ "username": "bob.brooks", "password": PASSWORD })))
            }
            ("DELETE", "/api/v1/portal/sessions/current")
            | ("GET", "/api/v1/portal/me")
            | ("GET", "/api/v1/portal/me/sessions") => None,
            ("GET", "/api/v1/portal/patients/{id}") => {
                p("id", self.patient(rec));
                None
            }
            ("PUT", "/api/v1/portal/me/password") => {
                self.reset_portal_passwords().await;
                Some(Payload::json(
                    json!({ "current_password": PASSWORD, "new_password": "another long passphrase of mine" }),
                ))
            }
            ("POST", "/api/v1/portal/me/email") => {
                self.reset_portal_passwords().await;
                let to = format!("changed-{}@example.test", self.unique());
                Some(Payload::json(json!({ "password": PASSWORD, "new_email": to })))
            }
            ("DELETE", "/api/v1/portal/me/sessions/{id}") => {
                let id = match rec {
                    Rec::Own => self.extra_portal_session(Caller::PortalA).await,
                    Rec::Foreign => self.extra_portal_session(Caller::PortalB).await,
                    Rec::Missing => portal_auth::tokens::new_token().1[..32].to_owned(),
                    _ => "not-an-id".into(),
                };
                p("id", id);
                None
            }
            ("POST", "/api/v1/portal/registrations") => Some(Payload::json(json!({
                "email": "nobody@example.test", "last_name": "Nobody", "date_of_birth": "1980-01-01", "zip": "62701"
            }))),
            ("POST", "/api/v1/portal/password-resets") => {
                Some(Payload::json(json!({ "kind": "account", "username": "nobody", "email": "nobody@example.test" })))
            }
            ("GET", "/api/v1/portal/links/{token}") | ("POST", "/api/v1/portal/links/{token}") => {
                let token = match rec {
                    Rec::Own => self.fresh_invitation_link().await.1,
                    Rec::Foreign => self.expired(self.fresh_invitation_link().await.1).await,
                    Rec::Missing => portal_auth::tokens::new_token().0,
                    _ => "not-a-token".into(),
                };
                p("token", token);
                let username = format!("designated{}", self.unique());
                if method == "POST" {
                    Some(Payload::json(json!({ "username": username, "password": PASSWORD })))
                } else {
                    None
                }
            }
            ("POST", "/api/v1/portal/email-confirmations/{token}") => {
                let token = match rec {
                    Rec::Own => self.fresh_email_change_link().await,
                    Rec::Foreign => self.expired(self.fresh_email_change_link().await).await,
                    Rec::Missing => portal_auth::tokens::new_token().0,
                    _ => "not-a-token".into(),
                };
                p("token", token);
                None
            }
            // --- end of the portal users' own API (h1) ---
            // The printable handout (h4).
            ("GET", "/api/v1/handout") | ("DELETE", "/api/v1/handout") => None,
            ("PUT", "/api/v1/handout") => Some(Payload::json(
                json!({ "title": "Our patient portal", "body": "Ask the front desk for an invitation." }),
            )),
            // ---- Portal access (staff): status, access, invitations, credentials, grants, look-ups,
            // the Onboarding Tool and the auto-enable settings (api/portal_admin.rs). ----
            ("GET", "/api/v1/patients/{id}/portal") | ("GET", "/api/v1/patients/{id}/portal/users") => {
                p("id", self.patient(rec));
                None
            }
            ("PUT", "/api/v1/patients/{id}/portal/access") => {
                p("id", self.patient(rec));
                // Already enabled: disabling would close the portal to the portal callers.
                Some(Payload::json(json!({ "enabled": true })))
            }
            ("POST", "/api/v1/patients/{id}/portal/invitations") => {
                p("id", self.patient(rec));
                // A designated person at a new address each time: a new account and grant.
                let email = format!("designated-{}@example.test", self.unique());
                Some(Payload::json(json!({
                    "to": { "kind": "designated", "name": "Dana Designated", "email": email },
                    "relation": "other", "scopes": ["appointments", "documents"], "phi_warning_acknowledged": true
                })))
            }
            ("PUT", "/api/v1/patients/{id}/portal/credentials") => {
                // Replacing a password ends the account's sessions (the portal callers' own): each
                // call gets a fresh patient, ready for the portal, without an account yet.
                let patient = match rec {
                    Rec::Own => self.portal_ready_patient(&self.location_a).await,
                    Rec::Foreign => self.portal_ready_patient(&self.location_b).await,
                    _ => self.patient(rec),
                };
                p("id", patient);
                let username = format!("desk.user{}", self.unique());
                Some(Payload::json(json!({ "username": username, "temporary_password": PASSWORD })))
            }
            ("PUT", "/api/v1/patients/{id}/portal/grants/{grant_id}")
            | ("DELETE", "/api/v1/patients/{id}/portal/grants/{grant_id}") => {
                // Each call gets a grant of its own (a designated person's), never the portal
                // callers' grants: revoking those would change the other rows' answers.
                let (patient, grant) = match rec {
                    Rec::Own => (self.patient_a.clone(), self.designated_grant(&self.patient_a).await),
                    Rec::Foreign => (self.patient_b.clone(), self.designated_grant(&self.patient_b).await),
                    Rec::OwnWithMissingChild => (self.patient_a.clone(), missing_id()),
                    Rec::OwnWithForeignChild => (self.patient_a.clone(), self.designated_grant(&self.patient_b).await),
                    _ => (self.patient(rec), missing_id()),
                };
                p("id", patient);
                p("grant_id", grant);
                if method == "PUT" {
                    Some(Payload::json(json!({ "scopes": ["appointments", "messages"], "ends_on": "" })))
                } else {
                    None
                }
            }
            ("GET", "/api/v1/portal-accounts") => {
                query = Some("email=alice.anders%40example.test".into());
                None
            }
            ("GET", "/api/v1/portal-usernames") => {
                query = Some("username=someone.new".into());
                None
            }
            ("GET", "/api/v1/onboarding") => None,
            ("POST", "/api/v1/onboarding/jobs") => {
                // Patient A's access is already enabled: the job skips it and changes nothing.
                Some(Payload::json(json!({ "patient_ids": [self.patient_a], "enable": true })))
            }
            ("GET", "/api/v1/onboarding/jobs/{id}") => {
                // A job is seen by its creator only: "own" is the Front Desk of A's, "foreign"
                // the Front Desk of B's.
                let job = match rec {
                    Rec::Own => self.onboarding_job(Caller::FrontDesk).await,
                    Rec::Foreign => self.onboarding_job(Caller::FrontDeskB).await,
                    Rec::Missing => missing_id(),
                    _ => "not-an-id".into(),
                };
                p("id", job);
                None
            }
            ("GET", "/api/v1/settings/portal-access") => None,
            ("PUT", "/api/v1/settings/portal-access") => Some(Payload::json(json!({
                "auto_enable": false,
                "location_overrides": [{ "location_id": self.location_a, "auto_enable": null }]
            }))),
            // ---- end of portal access (staff) ----
            // ---- Secure messaging (api/messaging.rs, api/portal_messaging.rs). Conversation ids
            // come from `conversations()`: the variant picks which one (see `conversation`). ----
            ("GET", "/api/v1/conversations") | ("GET", "/api/v1/portal/conversations") => {
                query = match variant {
                    "archived" => Some("folder=archived".into()),
                    "search" => Some("q=results".into()),
                    _ => None,
                };
                None
            }
            ("POST", "/api/v1/conversations") => {
                // The permissions the expected answers assume (the Clinician's, B's front desk's).
                self.conversations().await;
                let patient = self.patient(rec);
                Some(Payload::json(if variant == "portal" {
                    // Patient B's portal user for patient B; portal user A otherwise.
                    let to = if rec == Rec::Foreign { Caller::PortalB } else { Caller::PortalA };
                    json!({ "kind": "portal", "patient_id": patient, "recipient_account_id": self.id(to),
                            "subject": "Your results", "body": "Your results are in." })
                } else {
                    // A staff message to a front desk of the patient's location, or about nobody.
                    let to = if rec == Rec::Foreign { &self.target_b.id } else { &self.target_a.id };
                    let mut body = json!({ "kind": "staff", "recipient_staff_ids": [to], "body": "Please call back." });
                    if rec != Rec::None {
                        body["patient_id"] = json!(patient);
                    }
                    body
                }))
            }
            ("POST", "/api/v1/portal/conversations") => {
                let staff = if rec == Rec::Foreign { Caller::FrontDeskB } else { Caller::Clinician };
                self.conversations().await;
                Some(Payload::json(json!({ "patient_id": self.patient(rec), "staff_id": self.id(staff),
                    "subject": "A question", "body": "May I come in earlier?" })))
            }
            ("GET", "/api/v1/conversations/{id}")
            | ("GET", "/api/v1/portal/conversations/{id}")
            | ("GET", "/api/v1/conversations/{id}/messages")
            | ("GET", "/api/v1/portal/conversations/{id}/messages") => {
                p("id", self.conversation(rec, variant).await);
                None
            }
            ("POST", "/api/v1/conversations/{id}/messages")
            | ("POST", "/api/v1/portal/conversations/{id}/messages") => {
                p("id", self.conversation(rec, variant).await);
                Some(Payload::json(json!({ "body": "Thank you." })))
            }
            ("PUT", "/api/v1/conversations/{id}/archived") | ("PUT", "/api/v1/portal/conversations/{id}/archived") => {
                p("id", self.conversation(rec, variant).await);
                // Back to Active: the conversations stay where the other rows expect them.
                Some(Payload::json(json!({ "archived": false })))
            }
            ("GET", "/api/v1/messages/unread-count") | ("GET", "/api/v1/portal/messages/unread-count") => None,
            ("GET", "/api/v1/patients/{id}/message-recipients")
            | ("GET", "/api/v1/portal/patients/{id}/message-recipients") => {
                self.conversations().await;
                p("id", self.patient(rec));
                None
            }
            ("GET", "/api/v1/message-recipients") => {
                if rec != Rec::None {
                    query = Some(format!("patient_id={}", self.patient(rec)));
                }
                None
            }
            ("GET", "/api/v1/settings/portal-messaging") => None,
            // The value in force already: the row checks who may change it, and changes nothing.
            ("PUT", "/api/v1/settings/portal-messaging") => {
                Some(Payload::json(json!({ "recipients": "available_for_portal_messages" })))
            }
            // ---- end of secure messaging ----
            // ---- The request queue (api/requests.rs, api/portal_requests.rs): request ids come
            // from `requests()`; dismissal and reopening use theirs up and get fresh ones. ----
            ("GET", "/api/v1/requests") => None,
            ("GET", "/api/v1/requests/archive") => {
                if variant == "search" {
                    query = Some("q=refill".into());
                }
                None
            }
            ("GET", "/api/v1/requests/{id}") | ("POST", "/api/v1/requests/{id}/helper") => {
                p("id", self.request(rec).await);
                None
            }
            ("POST", "/api/v1/requests/{id}/dismissal") => {
                let id = match rec {
                    Rec::Own => self.submit_request(Caller::PortalA, &self.patient_a).await,
                    Rec::Foreign => self.submit_request(Caller::PortalB, &self.patient_b).await,
                    _ => self.request(rec).await,
                };
                p("id", id);
                Some(Payload::json(json!({ "how": "completed" })))
            }
            ("POST", "/api/v1/requests/{id}/reopen") => {
                let id = match rec {
                    Rec::Own => self.dismissed_request(Caller::PortalA, &self.patient_a).await,
                    Rec::Foreign => self.dismissed_request(Caller::PortalB, &self.patient_b).await,
                    _ => self.request(rec).await,
                };
                p("id", id);
                None
            }
            ("POST", "/api/v1/requests/{id}/reply") => {
                // Available for Portal Messages: the Clinician's and the Front Desk of B's.
                self.conversations().await;
                p("id", self.request(rec).await);
                // Left open: the request stays where the other rows expect it.
                Some(Payload::json(json!({ "body": "Your refill was sent to the pharmacy.",
                    "disposition": "leave_open", "notify_by_email": false })))
            }
            ("GET", "/api/v1/request-tasks/{id}") | ("PUT", "/api/v1/request-tasks/{id}") => {
                let r = self.requests().await;
                let id = match rec {
                    Rec::Own => r.own_task.clone(),
                    Rec::Foreign => r.foreign_task.clone(),
                    Rec::Missing => missing_id(),
                    _ => "not-an-id".into(),
                };
                p("id", id);
                if method == "PUT" {
                    Some(Payload::json(json!({ "body": "Refill sent.", "done": false })))
                } else {
                    None
                }
            }
            ("GET", "/api/v1/portal/requests") => None,
            ("POST", "/api/v1/portal/requests") => Some(Payload::json(json!({
                "patient_id": self.patient(rec), "kind": "refill", "medication": "Lisinopril 10 mg",
                "pharmacy": "Main Street Pharmacy"
            }))),
            ("GET", "/api/v1/portal/requests/{id}") => {
                p("id", self.request(rec).await);
                None
            }
            ("GET", "/api/v1/portal/patients/{id}/appointment-choices") => {
                p("id", self.patient(rec));
                None
            }
            // ---- end of the request queue ----
            // ---- Notification rules (api/notification_rules.rs): "own" is a rule of location
            // A, "foreign" one of location B; deleting uses a fresh one each time. ----
            ("GET", "/api/v1/notification-rules") => {
                if rec != Rec::None {
                    query = Some(format!("location_id={}", self.location(rec)));
                }
                None
            }
            ("POST", "/api/v1/notification-rules") => {
                let loc = if rec == Rec::None { self.location_a.clone() } else { self.location(rec) };
                Some(Payload::json(self.rule_body(&loc)))
            }
            ("GET", "/api/v1/notification-rules/{id}") | ("POST", "/api/v1/notification-rules/{id}/test") => {
                p("id", self.rule(rec).await);
                None
            }
            ("PUT", "/api/v1/notification-rules/{id}") => {
                p("id", self.rule(rec).await);
                let loc = if rec == Rec::Foreign { self.location_b.clone() } else { self.location_a.clone() };
                Some(Payload::json(self.rule_body(&loc)))
            }
            ("DELETE", "/api/v1/notification-rules/{id}") => {
                let id = match rec {
                    Rec::Own => self.create_rule(&self.location_a).await,
                    Rec::Foreign => self.create_rule(&self.location_b).await,
                    _ => self.rule(rec).await,
                };
                p("id", id);
                None
            }
            // ---- end of notification rules ----
            // ---- staff notifications: one's own only ("own" is the Clinician's, "foreign" the
            // Front Desk of B's; a fresh one each call) ----
            ("GET", "/api/v1/notifications")
            | ("GET", "/api/v1/notifications/unread-count")
            | ("POST", "/api/v1/notifications/read-all") => None,
            ("POST", "/api/v1/notifications/{id}/read") => {
                let id = match rec {
                    Rec::Own => self.staff_notification(Caller::Clinician).await,
                    Rec::Foreign => self.staff_notification(Caller::FrontDeskB).await,
                    Rec::Missing => missing_id(),
                    _ => "not-an-id".into(),
                };
                p("id", id);
                None
            }
            // ---- end of staff notifications ----
            ("GET", "/api/v1/audit-events") => None,
            _ => panic!("no request known for {method} {template}: add it to World::call and to the tables"),
        };
        Call { method: method.parse().expect("method"), template: template.to_owned(), params, query, body }
    }

    /// A patient at `location` with an e-mail address, a ZIP code and portal access enabled, and
    /// no portal account yet (portal access, staff).
    pub async fn portal_ready_patient(&self, location: &str) -> String {
        let n = self.unique();
        let mut input = patient_input("Dee", &format!("Desk{n}"), "1991-05-06", location);
        input.zip = Some("62701".into());
        let db = self.db();
        let id = portal_practice::patients::create(db, &Actor::system(), input).await.expect("create patient").id;
        let level = portal_core::portal_access::PortalAccessLevel::CanAccess;
        portal_practice::portal_access::set_access_level(db, &Actor::system(), &id, level).await.expect("enable");
        id
    }

    /// A new grant to `patient_id`, held by a designated person at a new address (portal access,
    /// staff).
    pub async fn designated_grant(&self, patient_id: &str) -> String {
        let email = format!("grant-holder-{}@example.test", self.unique());
        let input = portal_auth::invitations::InviteInput {
            to: portal_auth::invitations::InviteTo::Designated { name: "Gale Holder".into(), email },
            relation: None,
            scopes: None,
            ends_on: None,
            message: None,
            intake_form_ids: vec![],
            phi_warning_acknowledged: true,
        };
        portal_auth::invitations::invite(self.db(), &Actor::system(), patient_id, input)
            .await
            .expect("invite a designated person")
            .grant_id
    }

    /// A new onboarding job started by `caller` through the API (portal access, staff).
    pub async fn onboarding_job(&self, caller: Caller) -> String {
        let patient = if caller == Caller::FrontDeskB { &self.patient_b } else { &self.patient_a };
        let body = json!({ "patient_ids": [patient], "enable": true });
        let res = self.send_as(caller, TestRequest::post("/api/v1/onboarding/jobs").json(&body)).await;
        res.assert_status(202);
        res.json()["job_id"].as_str().expect("job id").to_owned()
    }

    // --- Fixtures of the portal users' own API (h1) ---

    /// Gives the two portal callers the fixture password again (a row may have changed it).
    pub async fn reset_portal_passwords(&self) {
        let ids = [self.id(Caller::PortalA), self.id(Caller::PortalB)];
        // Both kinds of account use the same argon2id hasher: a staff user's hash of PASSWORD
        // fits. Ids and e-mail are fixtures, safe in the test's SQL text.
        self.app
            .exec_sql(&format!(
                "UPDATE portal_accounts SET password_hash = (SELECT password_hash FROM staff_users WHERE email = 'super@example.test'), must_change_password = false WHERE id IN ('{}', '{}')",
                ids[0], ids[1]
            ))
            .await;
    }

    /// A second live session of a portal caller's account; its listed (opaque) id.
    pub async fn extra_portal_session(&self, caller: Caller) -> String {
        let (_, hash) = portal_auth::tokens::new_token();
        let now = portal_core::time_util::now_utc();
        let row = portal_store::sessions::SessionRow {
            token_hash: hash.clone(),
            user_kind: "portal".into(),
            user_id: self.id(caller).to_owned(),
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now + time::Duration::hours(12),
            ip: Some("10.9.9.9".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0".into()),
        };
        self.db()
            .write(move |tx| Box::pin(async move { portal_store::sessions::insert(tx, &row).await }))
            .await
            .expect("a portal session");
        portal_auth::portal_sessions::portal_session_id(&hash)
    }

    /// Invites a new designated user to patient A: (their address, the raw invitation token).
    pub async fn fresh_invitation_link(&self) -> (String, String) {
        let email = format!("designated-{}@example.test", self.unique());
        portal_auth::invitations::invite(
            self.db(),
            &Actor::system(),
            &self.patient_a,
            portal_auth::invitations::InviteInput {
                to: portal_auth::invitations::InviteTo::Designated {
                    name: "Dana Designated".into(),
                    email: email.clone(),
                },
                relation: None,
                scopes: None,
                ends_on: None,
                message: None,
                intake_form_ids: vec![],
                phi_warning_acknowledged: true,
            },
        )
        .await
        .expect("invite a designated user");
        let token = last_link_to(self.db(), &email).await;
        (email, token)
    }

    /// A pending e-mail change of a new designated user's account: the raw confirmation token
    /// (written as `request_email_change` writes it, without the password check it needs).
    pub async fn fresh_email_change_link(&self) -> String {
        let (email, _) = self.fresh_invitation_link().await;
        let mut conn = self.db().read().await.expect("read");
        let account = portal_store::portal_accounts::accounts_by_email(&mut conn, &email)
            .await
            .expect("accounts")
            .pop()
            .expect("the invited account");
        drop(conn);
        let (raw, hash) = portal_auth::tokens::new_token();
        let now = portal_core::time_util::now_utc();
        let new_email = format!("moved-{}@example.test", self.unique());
        let row = portal_store::portal_accounts::TokenRow {
            token_hash: hash,
            purpose: "email_change".into(),
            account_id: Some(account.id),
            patient_id: None,
            email: new_email.clone(),
            data: json!({ "new_email": new_email }).to_string(),
            created_by: None,
            created_at: now,
            expires_at: now + time::Duration::hours(24),
            used_at: None,
        };
        self.db()
            .write(move |tx| Box::pin(async move { portal_store::portal_accounts::insert_tokens(tx, &[row]).await }))
            .await
            .expect("an e-mail change link");
        raw
    }

    /// The same link, expired.
    pub async fn expired(&self, raw_token: String) -> String {
        let hash = portal_auth::tokens::hash_token(&raw_token);
        self.app
            .exec_sql(&format!(
                "UPDATE account_tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = '{hash}'"
            ))
            .await;
        raw_token
    }

    // --- end of the fixtures of the portal users' own API (h1) ---

    // --- Fixtures of secure messaging ---

    /// The table's conversations (made once, on first use): see [`Conversations`]. Grants
    /// Available for Portal Messages to the Clinician and the Front Desk of B first (granting
    /// ends no session).
    pub async fn conversations(&self) -> &Conversations {
        self.conversations
            .get_or_init(|| async {
                let perm = portal_core::staff::PortalPermission::AvailableForPortalMessages;
                grant(self.db(), self.id(Caller::Clinician), perm).await;
                grant(self.db(), self.id(Caller::FrontDeskB), perm).await;
                let portal_a = self
                    .start_conversation(Caller::Clinician, json!({ "kind": "portal", "patient_id": self.patient_a,
                        "recipient_account_id": self.id(Caller::PortalA), "subject": "Your results",
                        "body": "Your results are in." }))
                    .await;
                let portal_b = self
                    .start_conversation(Caller::FrontDeskB, json!({ "kind": "portal", "patient_id": self.patient_b,
                        "recipient_account_id": self.id(Caller::PortalB), "body": "Your forms are ready." }))
                    .await;
                let staff_a = self
                    .start_conversation(Caller::PracticeManager, json!({ "kind": "staff", "patient_id": self.patient_a,
                        "recipient_staff_ids": [self.id(Caller::FrontDesk), self.id(Caller::Billing)],
                        "body": "Please check the insurance card." }))
                    .await;
                let super_admins = self
                    .start_conversation(Caller::SuperAdmin, json!({ "kind": "staff",
                        "recipient_staff_ids": [self.id(Caller::SuperAdminNoSettings)], "body": "Board meeting at 3." }))
                    .await;
                Conversations { portal_a, portal_b, staff_a, super_admins }
            })
            .await
    }

    /// Starts a conversation through the API as `caller`; its id.
    pub async fn start_conversation(&self, caller: Caller, body: Value) -> String {
        let res = self.send_as(caller, TestRequest::post("/api/v1/conversations").json(&body)).await;
        res.assert_status(201);
        res.json()["conversation_id"].as_str().expect("conversation id").to_owned()
    }

    /// The conversation a row aims at: "own" is portal user A's with the Clinician (variant
    /// "staff": the staff conversation about patient A; "super_admins": the two Super Admins');
    /// "foreign" is portal user B's with the Front Desk of B.
    pub async fn conversation(&self, rec: Rec, variant: &str) -> String {
        let c = self.conversations().await;
        match (rec, variant) {
            (Rec::Own, "staff") => c.staff_a.clone(),
            (Rec::Own, "super_admins") => c.super_admins.clone(),
            (Rec::Own, _) => c.portal_a.clone(),
            (Rec::Foreign, _) => c.portal_b.clone(),
            (Rec::Missing, _) => missing_id(),
            _ => "not-an-id".into(),
        }
    }

    // --- Fixtures of the request queue ---

    /// The table's requests and tasks (made once, on first use): see [`Requests`].
    pub async fn requests(&self) -> &Requests {
        self.requests
            .get_or_init(|| async {
                let own = self.submit_request(Caller::PortalA, &self.patient_a).await;
                let foreign = self.submit_request(Caller::PortalB, &self.patient_b).await;
                let own_task = self.helper_task(&own).await;
                let foreign_task = self.helper_task(&foreign).await;
                Requests { own, foreign, own_task, foreign_task }
            })
            .await
    }

    /// The request a row aims at (see [`Requests`]).
    pub async fn request(&self, rec: Rec) -> String {
        match rec {
            Rec::Own => self.requests().await.own.clone(),
            Rec::Foreign => self.requests().await.foreign.clone(),
            Rec::Missing => missing_id(),
            _ => "not-an-id".into(),
        }
    }

    /// A new prescription refill request by a portal caller about `patient_id`; its id.
    pub async fn submit_request(&self, caller: Caller, patient_id: &str) -> String {
        let body = json!({ "patient_id": patient_id, "kind": "refill", "medication": "Metformin 500 mg" });
        let res = self.send_as(caller, TestRequest::post("/api/v1/portal/requests").json(&body)).await;
        res.assert_status(201);
        res.json()["request"]["id"].as_str().expect("request id").to_owned()
    }

    /// A new request, dismissed as completed by the Super Admin: in the archive.
    pub async fn dismissed_request(&self, caller: Caller, patient_id: &str) -> String {
        let id = self.submit_request(caller, patient_id).await;
        let uri = format!("/api/v1/requests/{id}/dismissal");
        let res = self.send_as(Caller::SuperAdmin, TestRequest::post(uri).json(&json!({ "how": "completed" }))).await;
        res.assert_status(200);
        id
    }

    /// The task the helper opens for a refill request (as the Super Admin); its id.
    pub async fn helper_task(&self, request_id: &str) -> String {
        let uri = format!("/api/v1/requests/{request_id}/helper");
        let res = self.send_as(Caller::SuperAdmin, TestRequest::post(uri)).await;
        res.assert_status(200);
        res.json()["task"]["id"].as_str().expect("task id").to_owned()
    }

    /// A valid notification rule of `location` (the API's body).
    pub fn rule_body(&self, location: &str) -> Value {
        json!({
            "location_id": location, "event": "registration_completed", "name": "New registrations",
            "starts_on": "2026-01-01", "ends_on": null, "severity": "warning",
            "recipient_users": [], "recipient_care_team": true, "recipient_roles": ["front_desk"],
            "title": "{patient_name} registered", "message": "{patient_name} ({relation}) registered at {location}.",
            "toast": true, "email": false
        })
    }

    /// A new notification rule of `location`, made by the Super Admin; its id.
    pub async fn create_rule(&self, location: &str) -> String {
        let req = TestRequest::post("/api/v1/notification-rules").json(&self.rule_body(location));
        let res = self.send_as(Caller::SuperAdmin, req).await;
        res.assert_status(201);
        res.json()["id"].as_str().expect("rule id").to_owned()
    }

    /// The notification rule a row aims at: own (location A's), foreign (location B's), missing
    /// or malformed.
    pub async fn rule(&self, rec: Rec) -> String {
        match rec {
            Rec::Own | Rec::Foreign => {
                let (a, b) = self
                    .rules
                    .get_or_init(|| async {
                        (self.create_rule(&self.location_a).await, self.create_rule(&self.location_b).await)
                    })
                    .await;
                if rec == Rec::Own { a.clone() } else { b.clone() }
            }
            Rec::Missing => missing_id(),
            _ => "not-an-id".into(),
        }
    }

    /// A fresh unread notification (a toast) for `caller`, at their location; its id.
    pub async fn staff_notification(&self, caller: Caller) -> String {
        use portal_store::notifications::{self as store, NotificationRow};
        let location = if caller == Caller::FrontDeskB { &self.location_b } else { &self.location_a };
        let row = NotificationRow {
            id: portal_store::ids::new_id(),
            staff_id: self.id(caller).to_owned(),
            rule_id: None,
            event_id: None,
            patient_id: None,
            location_id: location.clone(),
            severity: "information".into(),
            title: "A new request".into(),
            body: "A request is waiting in the queue.".into(),
            link: Some("/queue".into()),
            toast: true,
            email: false,
            created_at: portal_core::time_util::now_utc(),
            toasted_at: None,
            read_at: None,
        };
        let id = row.id.clone();
        self.db()
            .write(move |tx| Box::pin(async move { store::insert_notifications(tx, &[row]).await }))
            .await
            .expect("a notification");
        id
    }

    fn staff_target(&self, rec: Rec) -> String {
        match rec {
            Rec::Foreign => self.target_b.id.clone(),
            Rec::Missing => missing_id(),
            Rec::Malformed => "not-an-id".into(),
            _ => self.target_a.id.clone(),
        }
    }
}

/// Which record a call is aimed at. "Own" records belong to location A, the location of every
/// staff caller but the front desk of B; "foreign" ones to location B. Routes without a record
/// use `None`; for a route that names a location in its body (creating a patient or a staff
/// user), the record is that location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rec {
    None,
    Own,
    Foreign,
    /// A well-formed random id.
    Missing,
    /// `not-an-id`.
    Malformed,
    /// The own record, with a second path parameter that names nothing (a missing contact, a
    /// staff user not on the team or unknown, an unknown permission).
    OwnWithMissingChild,
    /// The own record, with a second path parameter that belongs elsewhere (the foreign
    /// patient's contact; a staff user of location B for the care team).
    OwnWithForeignChild,
}

#[derive(Debug, Clone)]
pub enum Payload {
    Json(Value),
    Raw { content_type: Option<&'static str>, bytes: Vec<u8> },
}

impl Payload {
    pub fn json(v: Value) -> Self {
        Payload::Json(v)
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub template: String,
    pub params: Vec<(String, String)>,
    /// The query string (without `?`), if the route needs one.
    pub query: Option<String>,
    pub body: Option<Payload>,
}

impl Call {
    pub fn path(&self) -> String {
        let path = fill(&self.template, &self.params);
        match &self.query {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }

    /// The same call with one path parameter replaced by `value` (inserted as is).
    pub fn with_param(&self, name: &str, value: &str) -> Call {
        let mut c = self.clone();
        for (k, v) in &mut c.params {
            if k == name {
                *v = value.to_owned();
            }
        }
        c
    }

    pub fn request(&self) -> TestRequest {
        let req = TestRequest::new(self.method.clone(), self.path());
        match &self.body {
            None => req,
            Some(Payload::Json(v)) => req.json(v),
            Some(Payload::Raw { content_type, bytes }) => req.raw(*content_type, bytes.clone()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The portal users' pages and API (h1): an enabled patient, form bodies, a browser with cookies
// ---------------------------------------------------------------------------------------------

/// A patient of location A with an e-mail address (`first.last@example.test`), ZIP code 62701
/// and portal access enabled: one who can register or be invited.
pub async fn enabled_patient(world: &World, first: &str, last: &str, dob: &str) -> (String, String) {
    let id = create_patient(world.db(), first, last, dob, &world.location_a).await;
    world.app.exec_sql(&format!("UPDATE patients SET zip = '62701' WHERE id = '{id}'")).await;
    let pid = id.clone();
    world
        .db()
        .write(move |tx| Box::pin(async move { portal_store::portal_access::set_portal_access(tx, &pid, true).await }))
        .await
        .expect("enable access");
    (id, format!("{}.{}@example.test", first.to_lowercase(), last.to_lowercase()))
}

/// `application/x-www-form-urlencoded` text of `pairs`.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", portal_http::extract::urlencode(k), portal_http::extract::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser without JavaScript: keeps the portal cookie it is given and sends it back.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
    pub ip: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self { app, cookie: None, ip: None }
    }

    /// A browser already holding a portal session token.
    pub fn with_session(app: &'a TestApp, token: &str) -> Self {
        Self { app, cookie: Some(format!("portal_user_session={token}")), ip: None }
    }

    /// Every request from one address (for the per-address limits).
    pub fn at_ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.to_owned());
        self
    }

    async fn send(&mut self, mut req: TestRequest) -> TestResponse {
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(ip) = &self.ip {
            req = req.peer(ip);
        }
        let res = self.app.send(req).await;
        for v in res.headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap_or_default();
            let pair = v.split(';').next().unwrap_or_default().trim();
            if let Some((name, value)) = pair.split_once('=')
                && name.ends_with("portal_user_session")
            {
                self.cookie = if value.is_empty() { None } else { Some(pair.to_owned()) };
            }
        }
        res
    }

    pub async fn get(&mut self, uri: &str) -> TestResponse {
        self.send(TestRequest::get(uri)).await
    }

    pub async fn post(&mut self, uri: &str, pairs: &[(&str, &str)]) -> TestResponse {
        self.send(TestRequest::post(uri).raw(Some("application/x-www-form-urlencoded"), form_body(pairs))).await
    }

    /// The session token in the cookie, for API calls on the same session.
    pub fn token(&self) -> Option<String> {
        self.cookie.as_ref().and_then(|c| c.split_once('=')).map(|(_, v)| v.to_owned())
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> TestResponse {
        self.post("/portal/sign-in", &[("username", username), ("password", password), ("next", "/portal")]).await
    }
}

impl TestResponse {
    /// The `Location` of a redirect.
    #[track_caller]
    pub fn location(&self) -> String {
        assert!(
            self.status.is_redirection(),
            "{} {}: not a redirect: {} {}",
            self.method,
            self.uri,
            self.code(),
            self.text()
        );
        self.header("location").unwrap_or_default().to_owned()
    }
}
