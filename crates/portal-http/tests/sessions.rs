//! Sign-in, throttling, session lifetimes and endings, CSRF, response headers, probes and the
//! OpenAPI document (SECURITY.md "Identity and sessions", "Input, output and HTTP").

mod common;

use std::collections::BTreeSet;

use common::{Caller, PASSWORD, TestApp, TestRequest, World, create_location, create_staff, sign_in_body};
use portal_core::time_util::now_utc;
use serde_json::json;
use time::Duration;

const ME: &str = "/api/v1/staff/me";
const SIGN_IN: &str = "/api/v1/staff/sessions";

fn sign_in(email: &str, password: &str) -> TestRequest {
    TestRequest::post(SIGN_IN).json(&sign_in_body(email, password))
}

/// `2025-01-02 03:04:05.000000`: a timestamp literal both backends read into `Timestamp`.
fn sql_time(t: time::PrimitiveDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:6]");
    t.format(&f).expect("format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_201_with_a_token_that_opens_the_api() {
    let app = TestApp::new().await;
    let loc = create_location(app.db(), "Main").await;
    let id = create_staff(&app.state, "Fran Desk", "fran@example.test", "front_desk", &[&loc]).await;

    // E-mail matching ignores case and surrounding spaces.
    let res = app.send(sign_in(" Fran@Example.TEST ", PASSWORD)).await;
    res.assert_status(201);
    let body = res.json();
    let token = body["token"].as_str().expect("token");
    assert_eq!(token.len(), 64, "a 256-bit hex token");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["staff"]["id"], id.as_str());
    assert_eq!(body["staff"]["role"], "front_desk");
    assert_eq!(body["staff"]["location_ids"], json!([loc]));
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    let hours = (expires - time::OffsetDateTime::now_utc()).whole_minutes() as f64 / 60.0;
    assert!((11.9..=12.0).contains(&hours), "absolute lifetime is 12 h, got {hours} h");
    assert_eq!(res.header("cache-control"), Some("no-store"), "a token must never be cached");

    let me = app.send(TestRequest::get(ME).bearer(Some(token))).await;
    me.assert_status(200);
    assert_eq!(me.json()["id"], id.as_str());
    // The token is the session: a second sign-in gives another one.
    let second = app.sign_in("fran@example.test", PASSWORD).await;
    assert_ne!(second, token);

    // Neither a missing, a malformed nor a made-up token opens anything.
    for bad in [None, Some("nope"), Some(&*"a".repeat(64)), Some(&*"../".repeat(30))] {
        app.send(TestRequest::get(ME).bearer(bad)).await.assert_problem(401);
    }
    app.send(TestRequest::get(ME).header("authorization", format!("Basic {token}"))).await.assert_problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_email_and_inactive_account_answer_alike() {
    let app = TestApp::new().await;
    let loc = create_location(app.db(), "Main").await;
    create_staff(&app.state, "Kim Known", "known@example.test", "clinician", &[&loc]).await;
    let gone = create_staff(&app.state, "Gil Gone", "gone@example.test", "clinician", &[&loc]).await;
    portal_auth::staff::update(
        app.db(),
        &portal_core::Actor::system(),
        &gone,
        portal_auth::staff::StaffInput {
            name: "Gil Gone".into(),
            email: "gone@example.test".into(),
            role: "clinician".into(),
            location_ids: vec![loc.clone()],
            active: false,
            password: None,
        },
    )
    .await
    .expect("deactivate");

    let wrong = app.send(sign_in("known@example.test", "not the password at all")).await;
    let unknown = app.send(sign_in("nobody@example.test", "not the password at all")).await;
    let inactive = app.send(sign_in("gone@example.test", PASSWORD)).await;
    let malformed = app.send(sign_in("not an e-mail", "not the password at all")).await;
    let reference = wrong.assert_problem(401);
    for other in [&unknown, &inactive, &malformed] {
        assert_eq!(other.code(), 401, "{}", other.text());
        assert_eq!(other.header("content-type"), wrong.header("content-type"));
        assert_eq!(other.json(), reference, "answers differ, so they tell which accounts exist");
    }
    // The right password still works: failures below the limit lock nothing.
    app.send(sign_in("known@example.test", PASSWORD)).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_five_failures_an_account_must_wait() {
    let app = TestApp::new().await;
    let loc = create_location(app.db(), "Main").await;
    create_staff(&app.state, "Tess Target", "target@example.test", "clinician", &[&loc]).await;
    create_staff(&app.state, "Nell Neighbour", "neighbour@example.test", "clinician", &[&loc]).await;

    for i in 1..=5 {
        let res = app.send(sign_in("target@example.test", &format!("wrong password {i}"))).await;
        assert_eq!(res.code(), 401, "attempt {i}: {}", res.text());
    }
    // The sixth, even with the right password, is refused until the delay has passed.
    let res = app.send(sign_in("target@example.test", PASSWORD)).await;
    let p = res.assert_problem(429);
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=2).contains(&retry), "the first delay is about a second, got {retry}");
    assert!(p["detail"].as_str().unwrap_or("").contains("Try again"), "{p}");
    // Keyed on the typed account, whatever its case: not a way around.
    app.send(sign_in("TARGET@example.test", PASSWORD)).await.assert_problem(429);
    // Another account is not affected.
    app.send(sign_in("neighbour@example.test", PASSWORD)).await.assert_status(201);
    // An unknown e-mail is throttled just the same (no enumeration through the limiter).
    for _ in 1..=5 {
        app.send(sign_in("ghost@example.test", "whatever it is")).await.assert_status(401);
    }
    app.send(sign_in("ghost@example.test", "whatever it is")).await.assert_problem(429);
    // Once the delay has passed, the right password opens the account again.
    tokio::time::sleep(std::time::Duration::from_millis(retry * 1000 + 200)).await;
    app.send(sign_in("target@example.test", PASSWORD)).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eleventh_attempt_from_one_address_in_a_minute_is_refused() {
    let app = TestApp::with_default_sign_in_limiter().await;
    let loc = create_location(app.db(), "Main").await;
    create_staff(&app.state, "Ivy Ip", "ivy@example.test", "clinician", &[&loc]).await;
    for i in 1..=10 {
        // Different unknown accounts, so that only the address limit can bite.
        let res = app.send(sign_in(&format!("user{i}@example.test"), "whatever it is").peer("192.0.2.7")).await;
        assert_eq!(res.code(), 401, "attempt {i}: {}", res.text());
    }
    let res = app.send(sign_in("ivy@example.test", PASSWORD).peer("192.0.2.7")).await;
    res.assert_problem(429);
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // X-Forwarded-For from a peer that is not a configured proxy changes nothing.
    app.send(sign_in("ivy@example.test", PASSWORD).peer("192.0.2.7").header("x-forwarded-for", "203.0.113.9"))
        .await
        .assert_problem(429);
    // Another address is not affected.
    app.send(sign_in("ivy@example.test", PASSWORD).peer("192.0.2.8")).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_ends_the_session_at_once() {
    let world = World::new().await;
    let token = world.app.sign_in(&world.account(Caller::Clinician).email, PASSWORD).await;
    let other = world.token(Caller::Clinician).expect("token").to_owned();
    world.send(TestRequest::delete("/api/v1/staff/sessions/current").bearer(Some(&token))).await.assert_status(204);
    world.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_problem(401);
    world.send(TestRequest::delete("/api/v1/staff/sessions/current").bearer(Some(&token))).await.assert_problem(401);
    // Only that session: the user's other one lives on.
    world.send(TestRequest::get(ME).bearer(Some(&other))).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_15_idle_minutes_and_after_12_hours() {
    let app = TestApp::new().await;
    let loc = create_location(app.db(), "Main").await;
    create_staff(&app.state, "Ida Idle", "idle@example.test", "clinician", &[&loc]).await;
    let token = app.sign_in("idle@example.test", PASSWORD).await;
    let hash = portal_auth::tokens::hash_token(&token);
    let set = |column: &str, t: time::PrimitiveDateTime| {
        format!("UPDATE sessions SET {column} = '{}' WHERE token_hash = '{hash}'", sql_time(t))
    };

    // 14 idle minutes: still alive, and the request counts as activity.
    app.exec_sql(&set("last_seen_at", now_utc() - Duration::minutes(14))).await;
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_status(200);
    // So another 14 minutes later it is still alive.
    app.exec_sql(&set("last_seen_at", now_utc() - Duration::minutes(14))).await;
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_status(200);
    // 16 idle minutes: over.
    app.exec_sql(&set("last_seen_at", now_utc() - Duration::minutes(16))).await;
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_problem(401);
    // And it stays over even if the clock is put back: the row is gone.
    app.exec_sql(&set("last_seen_at", now_utc())).await;
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_problem(401);

    // An active session still ends at its absolute expiry.
    let token = app.sign_in("idle@example.test", PASSWORD).await;
    let hash = portal_auth::tokens::hash_token(&token);
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_status(200);
    app.exec_sql(&format!(
        "UPDATE sessions SET absolute_expires_at = '{}' WHERE token_hash = '{hash}'",
        sql_time(now_utc() - Duration::seconds(1))
    ))
    .await;
    app.send(TestRequest::get(ME).bearer(Some(&token))).await.assert_problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    let app = TestApp::new().await;
    let loc = create_location(app.db(), "Main").await;
    create_staff(&app.state, "Pia Pass", "pia@example.test", "clinician", &[&loc]).await;
    let here = app.sign_in("pia@example.test", PASSWORD).await;
    let elsewhere = app.sign_in("pia@example.test", PASSWORD).await;
    let change = |current: &str, new: &str| {
        TestRequest::put("/api/v1/staff/me/password")
            .bearer(Some(&here))
            .json(&json!({ "current_password": current, "new_password": new }))
    };

    // A wrong current password and a weak new one are both named; nothing changes.
    let res = app.send(change("not my password", "short")).await;
    assert_eq!(res.error_fields(), BTreeSet::from(["current_password".to_owned(), "new_password".to_owned()]));
    let res = app.send(change(PASSWORD, "password123")).await;
    assert!(res.error_fields().contains("new_password"), "a common password is refused: {}", res.text());
    app.send(TestRequest::get(ME).bearer(Some(&elsewhere))).await.assert_status(200);

    let new_password = "a much longer passphrase 2024";
    app.send(change(PASSWORD, new_password)).await.assert_status(204);
    app.send(TestRequest::get(ME).bearer(Some(&here))).await.assert_status(200);
    app.send(TestRequest::get(ME).bearer(Some(&elsewhere))).await.assert_problem(401);
    app.send(sign_in("pia@example.test", PASSWORD)).await.assert_problem(401);
    app.send(sign_in("pia@example.test", new_password)).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_ends_their_sessions_at_once() {
    let world = World::new().await;
    let desk = world.account(Caller::FrontDesk).clone();
    world.send_as(Caller::FrontDesk, TestRequest::get(ME)).await.assert_status(200);
    let mut body = json!({ "name": desk.name, "email": desk.email, "role": "front_desk",
                           "location_ids": [world.location_a], "active": true });
    // An edit that changes no privilege leaves the session alone.
    body["name"] = json!("Frances Desk");
    world
        .send_as(Caller::PracticeManager, TestRequest::put(format!("/api/v1/staff-users/{}", desk.id)).json(&body))
        .await
        .assert_status(200);
    world.send_as(Caller::FrontDesk, TestRequest::get(ME)).await.assert_status(200);

    body["active"] = json!(false);
    let res = world
        .send_as(Caller::SuperAdmin, TestRequest::put(format!("/api/v1/staff-users/{}", desk.id)).json(&body))
        .await;
    res.assert_status(200);
    assert_eq!(res.json()["active"], false);
    world.send_as(Caller::FrontDesk, TestRequest::get(ME)).await.assert_problem(401);
    world.send(sign_in(&desk.email, PASSWORD)).await.assert_problem(401);

    // Nobody deactivates themselves.
    let sa = world.account(Caller::SuperAdmin).clone();
    let me = json!({ "name": sa.name, "email": sa.email, "role": "super_admin",
                     "location_ids": [world.location_a], "active": false });
    world
        .send_as(Caller::SuperAdmin, TestRequest::put(format!("/api/v1/staff-users/{}", sa.id)).json(&me))
        .await
        .assert_problem(403);
    world.send_as(Caller::SuperAdmin, TestRequest::get(ME)).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// (A Super Admin: a practice manager of A may not hand out location B.)
async fn a_role_or_location_change_ends_the_sessions_too() {
    let world = World::new().await;
    let clin = world.account(Caller::Clinician).clone();
    let body = json!({ "name": clin.name, "email": clin.email, "role": "clinician",
                       "location_ids": [world.location_a, world.location_b], "active": true });
    world
        .send_as(Caller::SuperAdmin, TestRequest::put(format!("/api/v1/staff-users/{}", clin.id)).json(&body))
        .await
        .assert_status(200);
    world.send_as(Caller::Clinician, TestRequest::get(ME)).await.assert_problem(401);
    // The new sign-in carries the new locations.
    let token = world.app.sign_in(&clin.email, PASSWORD).await;
    let me = world.send(TestRequest::get(ME).bearer(Some(&token))).await.json();
    assert_eq!(me["location_ids"].as_array().map(Vec::len), Some(2), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_portal_permission_ends_the_users_sessions() {
    let world = World::new().await;
    let clin = world.id(Caller::Clinician).to_owned();
    let url = format!("/api/v1/staff-users/{clin}/portal-permissions/available_for_portal_messages");
    // Granting is no reason to end a session.
    let res = world.send_as(Caller::PracticeManager, TestRequest::put(&url).json(&json!({ "granted": true }))).await;
    res.assert_status(200);
    assert_eq!(res.json()["portal_permissions"], json!(["available_for_portal_messages"]));
    let me = world.send_as(Caller::Clinician, TestRequest::get(ME)).await;
    me.assert_status(200);
    assert_eq!(me.json()["portal_permissions"], json!(["available_for_portal_messages"]), "in force at once");

    let res = world.send_as(Caller::PracticeManager, TestRequest::put(&url).json(&json!({ "granted": false }))).await;
    res.assert_status(200);
    assert_eq!(res.json()["portal_permissions"], json!([]));
    world.send_as(Caller::Clinician, TestRequest::get(ME)).await.assert_problem(401);

    // Removing Manage Portal Settings from a Super Admin ends theirs, and the settings close.
    let sa = world.id(Caller::SuperAdmin).to_owned();
    world
        .send_as(
            Caller::SuperAdminNoSettings,
            TestRequest::put(format!("/api/v1/staff-users/{sa}/portal-permissions/manage_portal_settings"))
                .json(&json!({ "granted": false })),
        )
        .await
        .assert_status(200);
    world.send_as(Caller::SuperAdmin, TestRequest::get(ME)).await.assert_problem(401);
    let token = world.app.sign_in(&world.account(Caller::SuperAdmin).email, PASSWORD).await;
    world.send(TestRequest::get("/api/v1/settings/instance").bearer(Some(&token))).await.assert_problem(403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_state_changes_are_refused() {
    let world = World::new().await;
    let create = |site: Option<&str>| {
        let n = world.unique();
        let req = TestRequest::post("/api/v1/patients").json(&world.patient_body(
            &world.location_a,
            "Cora",
            &format!("Csrf{n}"),
        ));
        match site {
            Some(s) => req.header("sec-fetch-site", s),
            None => req,
        }
    };
    for site in ["cross-site", "same-site"] {
        let res = world.send_as(Caller::SuperAdmin, create(Some(site))).await;
        let p = res.assert_problem(403);
        assert!(p["detail"].as_str().unwrap_or("").contains("Cross-site"), "{p}");
    }
    // Old browsers send only Origin: a foreign one is refused, the own host's is not.
    world
        .send_as(
            Caller::SuperAdmin,
            create(None).header("origin", "https://evil.example").header("host", "portal.example"),
        )
        .await
        .assert_problem(403);
    world
        .send_as(
            Caller::SuperAdmin,
            create(None).header("origin", "http://portal.example").header("host", "portal.example"),
        )
        .await
        .assert_status(201);
    // Portal's own pages, a typed URL, and non-browser clients pass.
    world.send_as(Caller::SuperAdmin, create(Some("same-origin"))).await.assert_status(201);
    world.send_as(Caller::SuperAdmin, create(Some("none"))).await.assert_status(201);
    world.send_as(Caller::SuperAdmin, create(None)).await.assert_status(201);
    // Sign-in and sign-out are state changes too.
    world
        .send(sign_in(&world.target_a.email, PASSWORD).header("sec-fetch-site", "cross-site"))
        .await
        .assert_problem(403);
    world
        .send_as(
            Caller::Clinician,
            TestRequest::delete("/api/v1/staff/sessions/current").header("sec-fetch-site", "cross-site"),
        )
        .await
        .assert_problem(403);
    world.send_as(Caller::Clinician, TestRequest::get(ME)).await.assert_status(200);
    // Reading is allowed cross-site (no state changes on GET).
    world
        .send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/patients").header("sec-fetch-site", "cross-site"))
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let world = World::new().await;
    let responses = vec![
        world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a))).await,
        world.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/patients?q=Anders")).await,
        world.send(TestRequest::get(ME)).await,
        world.send(TestRequest::get("/api/v1/nope")).await,
        world.send(sign_in(&world.target_a.email, PASSWORD)).await,
        world.send(TestRequest::get("/healthz")).await,
        world.send(TestRequest::get("/api/v1/openapi.json")).await,
        world
            .send_as(Caller::SuperAdmin, TestRequest::post("/api/v1/patients").header("sec-fetch-site", "cross-site"))
            .await,
    ];
    for res in &responses {
        let what = format!("{} {} ({})", res.method, res.uri, res.code());
        let csp = res.header("content-security-policy").unwrap_or_else(|| panic!("{what}: no CSP"));
        for directive in ["default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{what}: CSP `{csp}` lacks `{directive}`");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{what}: CSP `{csp}`");
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert!(res.header("x-request-id").is_some(), "{what}: no request id");
        assert_eq!(res.header("strict-transport-security"), None, "{what}: HSTS over plain HTTP");
        if res.uri.starts_with("/api/") {
            assert_eq!(res.header("cache-control"), Some("no-store"), "{what}: API answers may hold PHI");
        }
    }
    // Served over HTTPS: HSTS for a year, subdomains included.
    let https = TestApp::with_public_url("https://portal.example").await;
    let res = https.send(TestRequest::get("/healthz")).await;
    assert_eq!(res.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics() {
    let world = World::new().await;
    let res = world.send(TestRequest::get("/healthz")).await;
    res.assert_status(200);
    assert_eq!(res.text(), "ok");
    world.send(TestRequest::get("/readyz")).await.assert_status(200);
    // Some traffic, including a concrete patient id, then the counters.
    world
        .send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a)))
        .await
        .assert_status(200);
    world.send(TestRequest::get(ME)).await.assert_status(401);
    let res = world.send(TestRequest::get("/metrics")).await;
    res.assert_status(200);
    assert!(res.header("content-type").unwrap_or("").contains("openmetrics"), "{:?}", res.header("content-type"));
    let text = res.text();
    assert!(text.contains("portal_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/api/v1/patients/{id}\""), "requests are counted by route template: {text}");
    assert!(!text.contains(&world.patient_a), "a concrete id reached the metrics");
    assert!(
        text.lines().any(|l| l.starts_with("portal_http_requests_total") && l.contains("status=\"401\"")),
        "{text}"
    );

    // Shutting down: not ready any more, so the load balancer stops sending requests.
    world.app.state.begin_shutdown();
    world.send(TestRequest::get("/readyz")).await.assert_status(503);
    world.send(TestRequest::get("/healthz")).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_3_1_and_names_every_operation() {
    let app = TestApp::new().await;
    let res = app.send(TestRequest::get("/api/v1/openapi.json")).await;
    res.assert_status(200);
    let doc = res.json();
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI {version}");
    let routes = common::routes_of(&doc);
    assert!(routes.len() >= 29, "{} operations", routes.len());
    // The served document is the one the route tables are checked against.
    assert_eq!(routes, common::api_routes());
    let mut ids = BTreeSet::new();
    for r in &routes {
        let id = r.operation_id.as_deref().unwrap_or_else(|| panic!("{} {} has no operationId", r.method, r.path));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
    }
    // Every operation but sign-in declares the session scheme, and every one documents its
    // error answers as problems.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            // The portal's public routes (h1): its sign-in and what a person uses before it.
            let portal_public = [
                ("post", "/api/v1/portal/sessions"),
                ("post", "/api/v1/portal/registrations"),
                ("post", "/api/v1/portal/password-resets"),
                ("get", "/api/v1/portal/links/{token}"),
                ("post", "/api/v1/portal/links/{token}"),
                ("post", "/api/v1/portal/email-confirmations/{token}"),
            ];
            let public =
                (path == SIGN_IN && method == "post") || portal_public.contains(&(method.as_str(), path.as_str()));
            let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|s| s.get("session").is_some()));
            assert_eq!(secured, !public, "{method} {path}: security {}", op["security"]);
            for (status, resp) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') {
                    assert!(
                        resp["content"].get("application/problem+json").is_some(),
                        "{method} {path} documents {status} without application/problem+json"
                    );
                }
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
}
