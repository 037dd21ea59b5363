//! The portal users' own API (`/api/v1/portal/...`) against a real database: sign-in, the
//! account and its patients, a patient's home, password and e-mail changes, sessions, the
//! public routes (registration, reset, links, e-mail confirmation) and who is refused.

mod common;

use common::*;
use portal_core::Actor;
use serde_json::{Value, json};

async fn sign_in(world: &World, username: &str, password: &str) -> TestResponse {
    world
        .send(TestRequest::post("/api/v1/portal/sessions").json(&json!({ "username": username, "password": password })))
        .await
}

fn bearer(req: TestRequest, token: &str) -> TestRequest {
    req.bearer(Some(token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_a_token_and_the_patients_and_one_error_for_every_failure() {
    let world = World::new().await;
    let res = sign_in(&world, "Alice.Anders", PASSWORD).await;
    res.assert_status(201);
    let v = res.json();
    let token = v["token"].as_str().expect("token").to_owned();
    assert_eq!(v["must_change_password"], false);
    assert_eq!(v["patients"].as_array().unwrap().len(), 1);
    assert_eq!(v["patients"][0]["patient_id"], world.patient_a.as_str());
    assert_eq!(v["patients"][0]["relation"], "self");
    assert_eq!(v["patients"][0]["scopes"].as_array().unwrap().len(), 5);
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));

    let me = world.send(bearer(TestRequest::get("/api/v1/portal/me"), &token)).await;
    me.assert_status(200);
    assert_eq!(me.json()["username"], "alice.anders");

    let wrong = sign_in(&world, "alice.anders", "not the password").await.assert_problem(401);
    let unknown = sign_in(&world, "no.such.user", "not the password").await.assert_problem(401);
    assert_eq!(wrong, unknown, "one answer for a wrong password and an unknown user");

    // A staff member's token is not a portal session, nor the reverse.
    let staff = world.send_as(Caller::SuperAdmin, TestRequest::get("/api/v1/portal/me")).await;
    staff.assert_problem(401);
    world.send(bearer(TestRequest::get("/api/v1/staff/me"), &token)).await.assert_problem(401);

    let out = world.send(bearer(TestRequest::delete("/api/v1/portal/sessions/current"), &token)).await;
    out.assert_status(204);
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &token)).await.assert_problem(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_limited_per_address_with_retry_after() {
    let world = World::on(TestApp::with_default_sign_in_limiter().await).await;
    let mut last = None;
    for _ in 0..11 {
        last = Some(
            world
                .send(
                    TestRequest::post("/api/v1/portal/sessions")
                        .json(&json!({ "username": "alice.anders", "password": "wrong" }))
                        .peer("10.66.0.1"),
                )
                .await,
        );
    }
    let last = last.unwrap();
    last.assert_problem(429);
    assert!(last.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patients_home_for_its_grant_holders_only() {
    let world = World::new().await;
    let pa = world.token(Caller::PortalA).unwrap();
    let res = world.send(bearer(TestRequest::get(format!("/api/v1/portal/patients/{}", world.patient_a)), pa)).await;
    res.assert_status(200);
    let v = res.json();
    assert_eq!((v["first_name"].as_str(), v["last_name"].as_str()), (Some("Alice"), Some("Anders")));
    assert_eq!(v["relation"], "self");
    assert_eq!(v["clinic"]["location_name"], "Location A");
    assert_eq!(v["ends_on"], Value::Null);
    // A foreign patient, a missing one and a malformed id answer alike.
    let foreign =
        world.send(bearer(TestRequest::get(format!("/api/v1/portal/patients/{}", world.patient_b)), pa)).await;
    let missing = world.send(bearer(TestRequest::get(format!("/api/v1/portal/patients/{}", missing_id())), pa)).await;
    let malformed = world.send(bearer(TestRequest::get("/api/v1/portal/patients/not-an-id"), pa)).await;
    let f = foreign.assert_problem(404);
    assert_eq!(f, missing.assert_problem(404));
    assert_eq!(f, malformed.assert_problem(404));
    // The read is audited as the portal user's.
    let audit = world
        .send_as(
            Caller::SuperAdmin,
            TestRequest::get(format!("/api/v1/audit-events?patient_id={}&action=patient_viewed", world.patient_a)),
        )
        .await;
    audit.assert_status(200);
    assert!(audit.text().contains("alice.anders"), "{}", audit.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_password_opens_nothing_until_it_is_changed() {
    let world = World::new().await;
    let (pid, _) = enabled_patient(&world, "Ida", "Ives", "1960-02-03").await;
    let temporary = "temporary desk password 42";
    portal_auth::invitations::set_credentials_in_person(
        world.db(),
        &world.app.state.app().hasher,
        &Actor::system(),
        &pid,
        Some("ida.ives"),
        temporary,
    )
    .await
    .expect("credentials at the desk");
    let res = sign_in(&world, "ida.ives", temporary).await;
    res.assert_status(201);
    assert_eq!(res.json()["must_change_password"], true);
    let token = res.json()["token"].as_str().unwrap().to_owned();
    let home = world.send(bearer(TestRequest::get(format!("/api/v1/portal/patients/{pid}")), &token)).await;
    home.assert_problem(403);
    let change = bearer(TestRequest::put("/api/v1/portal/me/password"), &token)
        .json(&json!({ "current_password": temporary, "new_password": PASSWORD }));
    world.send(change).await.assert_status(204);
    world.send(bearer(TestRequest::get(format!("/api/v1/portal/patients/{pid}")), &token)).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_the_other_sessions_and_checks_its_fields() {
    let world = World::new().await;
    let a = sign_in(&world, "alice.anders", PASSWORD).await.json()["token"].as_str().unwrap().to_owned();
    let b = sign_in(&world, "alice.anders", PASSWORD).await.json()["token"].as_str().unwrap().to_owned();
    let bad = bearer(TestRequest::put("/api/v1/portal/me/password"), &a)
        .json(&json!({ "current_password": "wrong", "new_password": "short" }));
    let fields = world.send(bad).await.error_fields();
    assert!(fields.contains("current_password") && fields.contains("new_password"), "{fields:?}");
    let ok = bearer(TestRequest::put("/api/v1/portal/me/password"), &a)
        .json(&json!({ "current_password": PASSWORD, "new_password": "my own new passphrase" }));
    world.send(ok).await.assert_status(204);
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &a)).await.assert_status(200);
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &b)).await.assert_problem(401);
    let notices = outbox_events(world.db())
        .await
        .into_iter()
        .filter(|e| matches!(e, portal_core::events::DomainEvent::PasswordChangedNotice { .. }))
        .count();
    assert_eq!(notices, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_with_opaque_ids_and_only_ones_own_can_be_ended() {
    let world = World::new().await;
    let pa = world.token(Caller::PortalA).unwrap().to_owned();
    let other = sign_in(&world, "alice.anders", PASSWORD).await.json()["token"].as_str().unwrap().to_owned();
    let list = world.send(bearer(TestRequest::get("/api/v1/portal/me/sessions"), &pa)).await;
    list.assert_status(200);
    let sessions = list.json().as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let text = list.text();
    for token in [&pa, &other] {
        let hash = portal_auth::tokens::hash_token(token);
        assert!(!text.contains(token.as_str()) && !text.contains(&hash[..16]), "neither token nor its hash is listed");
    }
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    // PB cannot end PA's session: 404, like an id that names nothing.
    let pb = world.token(Caller::PortalB).unwrap();
    let res = world.send(bearer(TestRequest::delete(format!("/api/v1/portal/me/sessions/{other_id}")), pb)).await;
    let refused = res.assert_problem(404);
    let nothing = world
        .send(bearer(TestRequest::delete("/api/v1/portal/me/sessions/0123456789abcdef0123456789abcdef"), pb))
        .await;
    assert_eq!(refused, nothing.assert_problem(404));
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &other)).await.assert_status(200);
    let res = world.send(bearer(TestRequest::delete(format!("/api/v1/portal/me/sessions/{other_id}")), &pa)).await;
    res.assert_status(204);
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &other)).await.assert_problem(401);
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), &pa)).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_reset_answer_the_same_body_whatever_matched() {
    let world = World::new().await;
    let (_, email) = enabled_patient(&world, "Jon", "Jones", "1992-11-12").await;
    let post = |path: &'static str, body: Value| world.send(TestRequest::post(path).json(&body));
    let matched = post(
        "/api/v1/portal/registrations",
        json!({ "email": email, "last_name": "Jones", "date_of_birth": "1992-11-12", "zip": "62701" }),
    )
    .await;
    let unknown = post(
        "/api/v1/portal/registrations",
        json!({ "email": "who@example.test", "last_name": "Who", "date_of_birth": "1992-11-12", "zip": "62701" }),
    )
    .await;
    matched.assert_status(202);
    assert_eq!((matched.code(), &matched.body), (unknown.code(), &unknown.body));
    assert_eq!(matched.header("content-type"), unknown.header("content-type"));
    let token = last_link_to(world.db(), &email).await;
    let link = world.send(TestRequest::get(format!("/api/v1/portal/links/{token}"))).await;
    link.assert_status(200);
    assert_eq!(link.json()["purpose"], "registration");
    assert_eq!(link.json()["needs_username"], true);

    // Accepting: a missing username is a field error and leaves the link usable.
    let res = world
        .send(TestRequest::post(format!("/api/v1/portal/links/{token}")).json(&json!({ "password": PASSWORD })))
        .await;
    assert!(res.error_fields().contains("username"));
    let res = world
        .send(
            TestRequest::post(format!("/api/v1/portal/links/{token}"))
                .json(&json!({ "username": "jon.jones", "password": PASSWORD })),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.json()["username"], "jon.jones");
    assert_eq!(res.json()["registration_completed"], true);
    let used = world.send(TestRequest::get(format!("/api/v1/portal/links/{token}"))).await.assert_problem(410);
    let unknown_link =
        world.send(TestRequest::get(format!("/api/v1/portal/links/{}", portal_auth::tokens::new_token().0))).await;
    assert_eq!(used, unknown_link.assert_problem(410), "used and unknown links answer alike");
    sign_in(&world, "jon.jones", PASSWORD).await.assert_status(201);

    // Forgot password: both kinds, the same answer as registration's; a bad kind is a field error.
    let a =
        post("/api/v1/portal/password-resets", json!({ "kind": "account", "username": "jon.jones", "email": email }))
            .await;
    let b = post("/api/v1/portal/password-resets", json!({ "kind": "patient", "email": "who@example.test", "last_name": "Who", "date_of_birth": "1990-01-01", "zip": "11111" })).await;
    assert_eq!((a.code(), &a.body), (matched.code(), &matched.body));
    assert_eq!((b.code(), &b.body), (matched.code(), &matched.body));
    let reset = last_link_to(world.db(), &email).await;
    assert_ne!(reset, token);
    let v = world.send(TestRequest::get(format!("/api/v1/portal/links/{reset}"))).await.json();
    assert_eq!((v["purpose"].as_str(), v["needs_username"].as_bool()), (Some("reset"), Some(false)));
    let bad = post("/api/v1/portal/password-resets", json!({ "kind": "sideways" })).await;
    assert!(bad.error_fields().contains("kind"));
    let bad = post(
        "/api/v1/portal/registrations",
        json!({ "email": "nope", "last_name": "", "date_of_birth": "1992-13-40", "zip": "x" }),
    )
    .await;
    let fields = bad.error_fields();
    for f in ["email", "last_name", "date_of_birth", "zip"] {
        assert!(fields.contains(f), "{f} in {fields:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_change_is_confirmed_by_the_link_sent_to_the_new_address() {
    let world = World::new().await;
    let pa = world.token(Caller::PortalA).unwrap();
    let req = bearer(TestRequest::post("/api/v1/portal/me/email"), pa)
        .json(&json!({ "password": "wrong", "new_email": "alice@elsewhere.example" }));
    assert!(world.send(req).await.error_fields().contains("password"));
    let req = bearer(TestRequest::post("/api/v1/portal/me/email"), pa)
        .json(&json!({ "password": PASSWORD, "new_email": "alice@elsewhere.example" }));
    let res = world.send(req).await;
    res.assert_status(202);
    assert!(res.json()["expires_at"].is_string());
    let me = world.send(bearer(TestRequest::get("/api/v1/portal/me"), pa)).await.json();
    assert_eq!(me["email"], world.account(Caller::PortalA).email.as_str(), "nothing changes before the link");
    let token = last_link_to(world.db(), "alice@elsewhere.example").await;
    // An e-mail confirmation is not a password link.
    world.send(TestRequest::get(format!("/api/v1/portal/links/{token}"))).await.assert_problem(410);
    let res = world.send(TestRequest::post(format!("/api/v1/portal/email-confirmations/{token}"))).await;
    res.assert_status(200);
    assert_eq!(res.json()["email"], "alice@elsewhere.example");
    let me = world.send(bearer(TestRequest::get("/api/v1/portal/me"), pa)).await.json();
    assert_eq!(me["email"], "alice@elsewhere.example");
    world.send(TestRequest::post(format!("/api/v1/portal/email-confirmations/{token}"))).await.assert_problem(410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_answer_403_while_the_portal_is_off() {
    let world = World::new().await;
    world
        .db()
        .write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await }))
        .await
        .expect("portal off");
    sign_in(&world, "alice.anders", PASSWORD).await.assert_problem(403);
    let body = json!({ "email": "a@example.test", "last_name": "A", "date_of_birth": "1990-01-01", "zip": "62701" });
    world.send(TestRequest::post("/api/v1/portal/registrations").json(&body)).await.assert_problem(403);
    // Every portal session resolves to nobody while the portal is off.
    let pa = world.token(Caller::PortalA).unwrap();
    world.send(bearer(TestRequest::get("/api/v1/portal/me"), pa)).await.assert_problem(401);
}
