//! The portal users' pages, walked through with cookies as a browser without JavaScript would:
//! invitation link -> password -> sign-in -> home (status green), expired links, registration
//! and forgot password (the same page whatever matched), the patient switcher, revocation on the
//! next request, a temporary password from the desk, e-mail change, sessions, the per-address
//! limit on public forms and the portal turned off.

mod common;

use std::time::Duration;

use common::*;
use portal_auth::throttle::IpLimiter;
use portal_core::Actor;
use portal_core::portal_access::PortalAccessStatus;

fn invite_input(
    to: portal_auth::invitations::InviteTo,
    relation: Option<&str>,
) -> portal_auth::invitations::InviteInput {
    portal_auth::invitations::InviteInput {
        to,
        relation: relation.map(str::to_owned),
        scopes: None,
        ends_on: None,
        message: None,
        intake_form_ids: vec![],
        phi_warning_acknowledged: true,
    }
}

async fn invite_patient(world: &World, patient_id: &str, message: Option<&str>) -> String {
    let mut input = invite_input(portal_auth::invitations::InviteTo::Patient, None);
    input.message = message.map(str::to_owned);
    input.phi_warning_acknowledged = false;
    let sent = portal_auth::invitations::invite(world.db(), &Actor::system(), patient_id, input).await.expect("invite");
    last_link_to(world.db(), &sent.to).await
}

async fn status_of(world: &World, patient_id: &str) -> PortalAccessStatus {
    portal_practice::portal_access::portal_status(world.db(), &Actor::system(), patient_id)
        .await
        .expect("status")
        .status
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_link_password_sign_in_home_and_green_status() {
    let world = World::new().await;
    let (pid, _email) = enabled_patient(&world, "Carla", "Cruz", "1990-05-06").await;
    let token = invite_patient(&world, &pid, Some("Please fill in the intake forms before your visit.")).await;
    assert_eq!(status_of(&world, &pid).await, PortalAccessStatus::InvitedNotSignedIn);

    let mut b = Browser::new(&world.app);
    let page = b.get(&format!("/portal/set-password/{token}")).await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("Create your account") && html.contains("name=\"username\""), "{html}");
    assert!(html.contains("15 or more recommended"), "the page recommends 15 characters");

    // Passwords that differ keep the link usable and say so beside the field.
    let res = b
        .post(
            &format!("/portal/set-password/{token}"),
            &[("username", "carla.cruz"), ("password", PASSWORD), ("repeat_password", "something else entirely")],
        )
        .await;
    res.assert_status(422);
    assert!(res.text().contains("The two passwords do not match") && res.text().contains("value=\"carla.cruz\""));

    let res = b
        .post(
            &format!("/portal/set-password/{token}"),
            &[("username", "carla.cruz"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
        )
        .await;
    res.assert_status(200);
    assert!(res.text().contains("Your password is set") && res.text().contains("value=\"carla.cruz\""));
    assert!(b.cookie.is_none(), "completing a link signs nobody in");

    // The used link now shows the one "expired or used" page.
    let again = b.get(&format!("/portal/set-password/{token}")).await;
    again.assert_status(410);
    assert!(again.text().contains("This link has expired or has already been used"));

    let res = b.sign_in("carla.cruz", PASSWORD).await;
    assert_eq!(res.location(), "/portal");
    let cookie = res.header("set-cookie").expect("a cookie").to_owned();
    assert!(cookie.starts_with("portal_user_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");

    // One patient: straight to their home.
    let res = b.get("/portal").await;
    assert_eq!(res.location(), format!("/portal/patients/{pid}"));
    let home = b.get(&format!("/portal/patients/{pid}")).await;
    home.assert_status(200);
    let html = home.text();
    assert!(html.contains("Carla Cruz") && html.contains("Your own record"), "{html}");
    assert!(html.contains("Please fill in the intake forms before your visit."), "the invitation's message is shown");
    assert!(html.contains("Location A") && html.contains("Springfield, IL 62701"), "the clinic's contact details");
    assert!(html.contains("Secure messages") && html.contains("Billing and payments"), "what the grant covers");
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert!(!html.contains("patient-switcher"), "no switcher for one patient");

    assert_eq!(status_of(&world, &pid).await, PortalAccessStatus::SignedIn);

    // Sign out: the session ends, the cookie goes.
    let res = b.post("/portal/sign-out", &[]).await;
    assert_eq!(res.location(), "/portal/sign-in?signed_out=1");
    assert!(b.cookie.is_none());
    let res = b.get(&format!("/portal/patients/{pid}")).await;
    assert!(res.location().starts_with("/portal/sign-in?next="), "{}", res.location());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_unknown_links_show_one_page_leading_to_forgot_password() {
    let world = World::new().await;
    let (email, token) = world.fresh_invitation_link().await;
    let token = world.expired(token).await;
    let mut b = Browser::new(&world.app);
    let expired = b.get(&format!("/portal/set-password/{token}")).await;
    expired.assert_status(410);
    let html = expired.text();
    assert!(html.contains("This link has expired or has already been used"), "{html}");
    assert!(html.contains("href=\"/portal/forgot-password\""), "a way to a new link");
    // Posting to it changes nothing either.
    let res = b
        .post(
            &format!("/portal/set-password/{token}"),
            &[("username", "someone"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
        )
        .await;
    res.assert_status(410);
    let unknown = b.get(&format!("/portal/set-password/{}", portal_auth::tokens::new_token().0)).await;
    let garbage = b.get("/portal/register/complete/not-a-token").await;
    assert_eq!((unknown.code(), unknown.text()), (expired.code(), expired.text()), "unknown answers like expired");
    assert_eq!((garbage.code(), garbage.text()), (expired.code(), expired.text()));
    let mut conn = world.db().read().await.unwrap();
    let account = portal_store::portal_accounts::accounts_by_email(&mut conn, &email).await.unwrap().pop().unwrap();
    assert!(account.username.is_none() && !account.has_password(), "an expired link sets nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_answers_the_same_page_whether_or_not_the_facts_match() {
    let world = World::new().await;
    let (pid, email) = enabled_patient(&world, "Dora", "Diaz", "1985-07-08").await;
    let mut b = Browser::new(&world.app);
    let form = b.get("/portal/register").await;
    form.assert_status(200);
    assert!(form.text().contains("id=\"portal-register-form\""));

    let matched = b
        .post(
            "/portal/register",
            &[("email", &email), ("last_name", "Diaz"), ("date_of_birth", "1985-07-08"), ("zip", "62701")],
        )
        .await;
    let unknown = b
        .post(
            "/portal/register",
            &[
                ("email", "nobody.here@example.test"),
                ("last_name", "Nobody"),
                ("date_of_birth", "1970-01-01"),
                ("zip", "99999"),
            ],
        )
        .await;
    // A near miss (right e-mail, wrong date of birth) too.
    let near = b
        .post(
            "/portal/register",
            &[("email", &email), ("last_name", "Diaz"), ("date_of_birth", "1985-07-09"), ("zip", "62701")],
        )
        .await;
    matched.assert_status(200);
    assert!(matched.text().contains("If these details match our records"));
    for other in [&unknown, &near] {
        assert_eq!(matched.code(), other.code());
        assert_eq!(matched.body, other.body, "the pages differ byte for byte");
        assert_eq!(matched.header("content-type"), other.header("content-type"));
        assert_eq!(matched.header("set-cookie"), other.header("set-cookie"));
    }
    // Only the match sent a link: the registration link completes the patient's own account.
    let token = last_link_to(world.db(), &email).await;
    let page = b.get(&format!("/portal/register/complete/{token}")).await;
    page.assert_status(200);
    assert!(page.text().contains("name=\"username\""));
    let done = b
        .post(
            &format!("/portal/register/complete/{token}"),
            &[("username", "dora.diaz"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
        )
        .await;
    done.assert_status(200);
    assert_eq!(b.sign_in("dora.diaz", PASSWORD).await.location(), "/portal");
    assert_eq!(b.get("/portal").await.location(), format!("/portal/patients/{pid}"));

    // Malformed facts are field errors, with what was typed kept.
    let bad = b
        .post(
            "/portal/register",
            &[("email", "not an address"), ("last_name", "Diaz"), ("date_of_birth", "yesterday"), ("zip", "62701")],
        )
        .await;
    bad.assert_status(422);
    let html = bad.text();
    assert!(html.contains("href=\"#email\"") && html.contains("href=\"#date_of_birth\""), "{html}");
    assert!(html.contains("value=\"not an address\"") && html.contains("value=\"yesterday\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_by_facts_or_by_username_sends_a_reset_link() {
    let world = World::new().await;
    let pa = world.account(Caller::PortalA).clone();
    let mut b = Browser::new(&world.app);
    let page = b.get("/portal/forgot-password").await;
    page.assert_status(200);
    assert!(page.text().contains("id=\"forgot-patient-form\"") && page.text().contains("id=\"forgot-account-form\""));

    let before = outbox_events(world.db()).await.len();
    let by_account = b
        .post("/portal/forgot-password", &[("kind", "account"), ("username", "alice.anders"), ("email", &pa.email)])
        .await;
    let wrong_address = b
        .post(
            "/portal/forgot-password",
            &[("kind", "account"), ("username", "alice.anders"), ("email", "x@example.test")],
        )
        .await;
    by_account.assert_status(200);
    assert_eq!(by_account.body, wrong_address.body, "the same answer whatever matched");
    assert_eq!(outbox_events(world.db()).await.len(), before + 1, "only the match sent an e-mail");

    let by_facts = b
        .post(
            "/portal/forgot-password",
            &[
                ("kind", "patient"),
                ("email", &pa.email),
                ("last_name", "Anders"),
                ("date_of_birth", "1980-04-12"),
                ("zip", "62701"),
            ],
        )
        .await;
    assert_eq!(by_facts.body, by_account.body);

    // The newest reset link: no username asked (the account has one), a new password works.
    let token = last_link_to(world.db(), &pa.email).await;
    let form = b.get(&format!("/portal/set-password/{token}")).await;
    form.assert_status(200);
    assert!(form.text().contains("Choose a new password") && !form.text().contains("name=\"username\""));
    let new_password = "a brand new passphrase for alice";
    b.post(&format!("/portal/set-password/{token}"), &[("password", new_password), ("repeat_password", new_password)])
        .await
        .assert_status(200);
    assert_eq!(b.sign_in("alice.anders", PASSWORD).await.code(), 401, "the old password is gone");
    assert_eq!(b.sign_in("alice.anders", new_password).await.location(), "/portal");

    // Field errors stay on the form that was sent.
    let bad = b.post("/portal/forgot-password", &[("kind", "account"), ("username", ""), ("email", "nope")]).await;
    bad.assert_status(422);
    assert!(bad.text().contains("href=\"#account-username\"") && bad.text().contains("href=\"#account-email\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_with_one_account_for_two_children_switches_between_them() {
    let world = World::new().await;
    let (kid1, _) = enabled_patient(&world, "Eli", "Evans", "2015-01-02").await;
    let (kid2, _) = enabled_patient(&world, "Fay", "Evans", "2017-03-04").await;
    let guardian = "grace.evans@example.test";
    let to = portal_auth::invitations::InviteTo::Designated { name: "Grace Evans".into(), email: guardian.into() };
    let sent =
        portal_auth::invitations::invite(world.db(), &Actor::system(), &kid1, invite_input(to, Some("guardian")))
            .await
            .expect("invite the guardian");
    let token = last_link_to(world.db(), guardian).await;
    let mut b = Browser::new(&world.app);
    b.post(
        &format!("/portal/set-password/{token}"),
        &[("username", "grace.evans"), ("password", PASSWORD), ("repeat_password", PASSWORD)],
    )
    .await
    .assert_status(200);
    // "Link User by Email": the second child is added to the same account.
    let to = portal_auth::invitations::InviteTo::ExistingAccount { account_id: sent.account_id.clone() };
    portal_auth::invitations::invite(world.db(), &Actor::system(), &kid2, invite_input(to, Some("guardian")))
        .await
        .expect("link the second child");

    b.sign_in("grace.evans", PASSWORD).await;
    let switcher = b.get("/portal").await;
    switcher.assert_status(200);
    let html = switcher.text();
    assert!(html.contains("Eli Evans") && html.contains("Fay Evans") && html.contains("Guardian"), "{html}");
    assert!(html.contains(&format!("id=\"open-{kid1}\"")) && html.contains(&format!("id=\"open-{kid2}\"")));
    for (kid, name) in [(&kid1, "Eli Evans"), (&kid2, "Fay Evans")] {
        let home = b.get(&format!("/portal/patients/{kid}")).await;
        home.assert_status(200);
        let html = home.text();
        assert!(html.contains(name) && html.contains("id=\"patient-switcher\""), "{html}");
        assert!(html.contains(&format!("id=\"switch-{kid}\" aria-current=\"page\"")), "the current child is marked");
    }
    // A patient the guardian holds no grant for answers like a missing one.
    let a = b.get(&format!("/portal/patients/{}", world.patient_a)).await;
    let missing = b.get(&format!("/portal/patients/{}", missing_id())).await;
    a.assert_status(404);
    assert_eq!(a.body, missing.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_answers_404_on_the_very_next_request() {
    let world = World::new().await;
    let mut b = Browser::with_session(&world.app, world.token(Caller::PortalA).unwrap());
    let url = format!("/portal/patients/{}", world.patient_a);
    b.get(&url).await.assert_status(200);
    let grant = portal_auth::portal_grants::portal_users(world.db(), &Actor::system(), &world.patient_a)
        .await
        .expect("portal users")
        .into_iter()
        .find(|u| u.account_id == world.id(Caller::PortalA))
        .expect("PA's grant");
    portal_auth::portal_grants::revoke_grant(world.db(), &Actor::system(), &world.patient_a, &grant.grant_id)
        .await
        .expect("revoke");
    let after = b.get(&url).await;
    after.assert_status(404);
    let missing = b.get(&format!("/portal/patients/{}", missing_id())).await;
    assert_eq!(after.body, missing.body, "a revoked grant answers exactly like a missing patient");
    // Still signed in: the account page opens, the switcher is empty.
    b.get("/portal/account").await.assert_status(200);
    let index = b.get("/portal").await;
    index.assert_status(200);
    assert!(index.text().contains("id=\"no-patients\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_password_from_the_desk_must_be_replaced_first() {
    let world = World::new().await;
    let (pid, _) = enabled_patient(&world, "Hana", "Hill", "1970-09-10").await;
    let temporary = "temporary desk password 42";
    portal_auth::invitations::set_credentials_in_person(
        world.db(),
        &world.app.state.app().hasher,
        &Actor::system(),
        &pid,
        Some("hana.hill"),
        temporary,
    )
    .await
    .expect("credentials at the desk");
    let mut b = Browser::new(&world.app);
    let res = b
        .post("/portal/sign-in", &[("username", "hana.hill"), ("password", temporary), ("next", "/portal/account")])
        .await;
    assert_eq!(res.location(), "/portal/choose-password");
    for page in ["/portal", "/portal/account", &format!("/portal/patients/{pid}")] {
        assert_eq!(b.get(page).await.location(), "/portal/choose-password", "{page} waits for a password");
    }
    let form = b.get("/portal/choose-password").await;
    form.assert_status(200);
    assert!(form.text().contains("id=\"choose-password-form\""));
    let wrong = b
        .post(
            "/portal/choose-password",
            &[("current_password", "not it at all"), ("new_password", PASSWORD), ("repeat_password", PASSWORD)],
        )
        .await;
    wrong.assert_status(422);
    assert!(wrong.text().contains("The temporary password is not right"));
    let res = b
        .post(
            "/portal/choose-password",
            &[("current_password", temporary), ("new_password", PASSWORD), ("repeat_password", PASSWORD)],
        )
        .await;
    assert_eq!(res.location(), "/portal");
    b.get(&format!("/portal/patients/{pid}")).await.assert_status(200);
    assert_eq!(b.get("/portal/choose-password").await.location(), "/portal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_change_waits_for_the_confirmation_link() {
    let world = World::new().await;
    let pa = world.account(Caller::PortalA).clone();
    let mut b = Browser::with_session(&world.app, &pa.token);
    let wrong = b.post("/portal/account/email", &[("new_email", "alice@new.example"), ("password", "nope")]).await;
    wrong.assert_status(422);
    assert!(wrong.text().contains("value=\"alice@new.example\"") && wrong.text().contains("The password is not right"));

    let res = b.post("/portal/account/email", &[("new_email", "alice@new.example"), ("password", PASSWORD)]).await;
    assert_eq!(res.location(), "/portal/account?done=email_requested");
    let notices: Vec<_> = outbox_events(world.db())
        .await
        .into_iter()
        .filter(|e| matches!(e, portal_core::events::DomainEvent::EmailChangeNotice { to, .. } if to == &pa.email))
        .collect();
    assert_eq!(notices.len(), 1, "the old address is told");
    let token = last_link_to(world.db(), "alice@new.example").await;
    let url = format!("/portal/account/email/confirm/{token}");

    // Opening the link changes nothing (mail scanners follow links).
    let page = b.get(&url).await;
    page.assert_status(200);
    assert!(page.text().contains("id=\"confirm-email\""));
    let account = b.get("/portal/account").await.text();
    assert!(account.contains(&pa.email) && !account.contains("alice@new.example"));

    let done = Browser::new(&world.app).post(&url, &[]).await;
    done.assert_status(200);
    assert!(done.text().contains("Your e-mail address has been changed") && done.text().contains("alice@new.example"));
    assert!(b.get("/portal/account").await.text().contains("alice@new.example"));
    // The patient's own record follows (seed 000).
    let facesheet =
        world.send_as(Caller::SuperAdmin, TestRequest::get(format!("/api/v1/patients/{}", world.patient_a))).await;
    assert_eq!(facesheet.json()["patient"]["email"], "alice@new.example", "{}", facesheet.text());
    // The link works once.
    Browser::new(&world.app).post(&url, &[]).await.assert_status(410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_can_be_ended_one_by_one_or_all_but_this_one() {
    let world = World::new().await;
    let mut here = Browser::new(&world.app);
    here.sign_in("alice.anders", PASSWORD).await;
    let mut phone = Browser::new(&world.app);
    phone.sign_in("alice.anders", PASSWORD).await;
    let page = here.get("/portal/account").await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("This session") && html.contains("id=\"sessions-table\""), "{html}");

    let phone_id = portal_auth::portal_sessions::portal_session_id(&portal_auth::tokens::hash_token(
        &phone.token().expect("phone's token"),
    ));
    assert!(html.contains(&format!("id=\"end-session-{phone_id}\"")), "the phone's session is listed");
    assert!(!html.contains(&phone.token().unwrap()), "no token on the page");
    let res = here.post(&format!("/portal/account/sessions/{phone_id}/end"), &[]).await;
    assert_eq!(res.location(), "/portal/account?done=session_ended");
    assert!(phone.get("/portal/account").await.location().starts_with("/portal/sign-in"), "the phone is signed out");
    here.get("/portal/account").await.assert_status(200);

    // Another account's session id names nothing here.
    let other = world.extra_portal_session(Caller::PortalB).await;
    let res = here.post(&format!("/portal/account/sessions/{other}/end"), &[]).await;
    res.assert_status(404);

    let mut laptop = Browser::new(&world.app);
    laptop.sign_in("alice.anders", PASSWORD).await;
    let res = here.post("/portal/account/sessions/end-others", &[]).await;
    assert_eq!(res.location(), "/portal/account?done=others_ended");
    assert!(laptop.get("/portal/account").await.location().starts_with("/portal/sign-in"));
    here.get("/portal/account").await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_share_one_message_and_next_stays_in_the_portal() {
    let world = World::new().await;
    let mut b = Browser::new(&world.app);
    let page = b.get("/portal/sign-in").await;
    page.assert_status(200);
    let html = page.text();
    assert!(html.contains("href=\"/portal/register\"") && html.contains("href=\"/portal/forgot-password\""));
    let wrong = b.sign_in("alice.anders", "wrong password here").await;
    let unknown = b.sign_in("nobody.at.all", "wrong password here").await;
    wrong.assert_status(401);
    assert!(wrong.text().contains("The username or password is incorrect."));
    assert_eq!(wrong.text().replace("alice.anders", "X"), unknown.text().replace("nobody.at.all", "X"));
    let res = b
        .post(
            "/portal/sign-in",
            &[
                ("username", "alice.anders"),
                ("password", PASSWORD),
                ("next", &format!("/portal/patients/{}", world.patient_a)),
            ],
        )
        .await;
    assert_eq!(res.location(), format!("/portal/patients/{}", world.patient_a));
    for evil in ["https://evil.example/", "//evil.example", "/patients", "/staff/sign-in"] {
        let res =
            b.post("/portal/sign-in", &[("username", "alice.anders"), ("password", PASSWORD), ("next", evil)]).await;
        assert_eq!(res.location(), "/portal", "next={evil}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_secure_with_the_host_prefix() {
    let world = World::on(TestApp::with_public_url("https://portal.example").await).await;
    let mut b = Browser::new(&world.app);
    let res = b.sign_in("alice.anders", PASSWORD).await;
    let cookie = res.header("set-cookie").expect("a cookie");
    assert!(cookie.starts_with("__Host-portal_user_session="), "{cookie}");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_forms_are_limited_per_address() {
    let mut app = TestApp::new().await;
    app.state = app.state.clone().with_portal_forms_limiter(IpLimiter::new(2, Duration::from_secs(60)));
    app.router = portal_http::build(app.state.clone());
    let world = World::on(app).await;
    let facts = [("email", "x@example.test"), ("last_name", "X"), ("date_of_birth", "1970-01-01"), ("zip", "62701")];
    let mut b = Browser::new(&world.app).at_ip("10.77.0.1");
    b.post("/portal/register", &facts).await.assert_status(200);
    b.post("/portal/forgot-password", &[("kind", "account"), ("username", "xavier"), ("email", "x@example.test")])
        .await
        .assert_status(200);
    let limited = b.get(&format!("/portal/set-password/{}", portal_auth::tokens::new_token().0)).await;
    limited.assert_status(429);
    assert!(limited.text().contains("too many requests from your network"), "{}", limited.text());
    assert!(limited.header("retry-after").is_some());
    // Another address is not affected; the API shares the limit of its address.
    let mut other = Browser::new(&world.app).at_ip("10.77.0.2");
    other.post("/portal/register", &facts).await.assert_status(200);
    let body = serde_json::json!({ "email": "x@example.test", "last_name": "X", "date_of_birth": "1970-01-01", "zip": "62701" });
    let api = world.send(TestRequest::post("/api/v1/portal/registrations").json(&body).peer("10.77.0.2")).await;
    api.assert_status(202);
    let api = world.send(TestRequest::post("/api/v1/portal/registrations").json(&body).peer("10.77.0.2")).await;
    api.assert_problem(429);
    assert!(api.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_portal_page_says_not_available_while_the_portal_is_off() {
    let world = World::new().await;
    world
        .db()
        .write(|tx| Box::pin(async move { portal_store::org::set_use_portal(tx, false).await }))
        .await
        .expect("portal off");
    let mut b = Browser::with_session(&world.app, world.token(Caller::PortalA).unwrap());
    let token = portal_auth::tokens::new_token().0;
    for page in [
        "/portal".to_owned(),
        "/portal/sign-in".to_owned(),
        "/portal/register".to_owned(),
        "/portal/forgot-password".to_owned(),
        "/portal/account".to_owned(),
        format!("/portal/patients/{}", world.patient_a),
        format!("/portal/set-password/{token}"),
        format!("/portal/account/email/confirm/{token}"),
    ] {
        let res = b.get(&page).await;
        res.assert_status(503);
        assert!(res.text().contains("The patient portal is not available"), "{page}");
    }
    let res = b.post("/portal/sign-in", &[("username", "alice.anders"), ("password", PASSWORD)]).await;
    res.assert_status(503);
}
