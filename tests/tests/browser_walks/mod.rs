//! Browser walks of the portal accounts capability: invitations and e-mail over SMTP, registration,
//! expired links, a guardian switching between two children, a revoked grant, the Onboarding Tool.
//! Staff steps go through the staff pages; patients' steps through the portal's pages; the e-mail
//! a patient clicks is the one the app's worker delivered to the test SMTP server.

mod messaging;
mod notifications;
mod queue;

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use portal_auth::invitations::{InviteInput, InviteTo};
use portal_core::Actor;

use crate::browser_support::*;

pub const PATIENT_PASSWORD: &str = "a patient's own passphrase";

/// A second location, "North Clinic": the side of a walk that must be refused.
pub async fn north_clinic(app: &Fixture) -> portal_store::org::Location {
    portal_practice::company::create_location(
        &app.db.db,
        &Actor::system(),
        portal_practice::company::LocationInput {
            name: "North Clinic".into(),
            time_zone: "America/Chicago".into(),
            ..Default::default()
        },
    )
    .await
    .expect("location")
}

/// Turns a patient's portal access on through the store (for walks whose subject is not enabling).
pub async fn enable(app: &Fixture, patient_id: &str) {
    let id = patient_id.to_owned();
    app.db
        .db
        .write(move |tx| Box::pin(async move { portal_store::portal_access::set_portal_access(tx, &id, true).await }))
        .await
        .expect("enable access");
}

/// Staff invite `to` to the patient's portal through the use case (for walks whose subject is not
/// the invitation page).
pub async fn invite(app: &Fixture, patient_id: &str, to: InviteTo, relation: Option<&str>) {
    portal_auth::invitations::invite(
        &app.db.db,
        &Actor::system(),
        patient_id,
        InviteInput {
            to,
            relation: relation.map(str::to_owned),
            scopes: None,
            ends_on: None,
            message: None,
            intake_form_ids: vec![],
            phi_warning_acknowledged: true,
        },
    )
    .await
    .expect("invite");
}

pub async fn fill(c: &Client, id: &str, value: &str) {
    let el = c.find(Locator::Id(id)).await.unwrap_or_else(|_| panic!("no #{id}"));
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

/// Date inputs take typed text in the browser's locale; set the ISO value the form posts instead.
pub async fn set_value(c: &Client, id: &str, value: &str) {
    c.execute(
        "document.getElementById(arguments[0]).value = arguments[1];",
        vec![serde_json::json!(id), serde_json::json!(value)],
    )
    .await
    .expect("set value");
}

pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no `{css}`")).click().await.expect("click");
}

/// On a link page from an e-mail: chooses the username (when asked) and the password.
pub async fn set_password(c: &Client, username: Option<&str>, password: &str) {
    if let Some(u) = username {
        fill(c, "username", u).await;
    }
    fill(c, "password", password).await;
    fill(c, "repeat_password", password).await;
    click(c, "#set-password").await;
    // Wait for the answer: navigating on before it arrives would cancel the request.
    wait_for_text(c, "#password-set-notice", "Your password is set").await;
}

pub async fn portal_sign_in(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/portal/sign-in")).await.expect("portal sign-in");
    fill(c, "username", username).await;
    fill(c, "password", password).await;
    click(c, "#portal-sign-in").await;
    // Signed in (the answer arrived, every signed-in page names the user) before the caller goes
    // on: navigating earlier races the sign-in's redirect, which then lands on top.
    wait_for_text(c, "#portal-username", username).await;
}

/// Seed 002, "Register using Portal" and self-registration: matching and mismatching facts give the
/// same page; only the match gets an e-mail, whose link completes the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_registration_answers_alike_and_only_a_match_gets_mail() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let pid = app.patient("Rita", "Reyes", "1984-06-02", "rita@example.test").await;
    enable(&app, &pid).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    let mut answers = Vec::new();
    for last in ["Reyes", "Reyez"] {
        c.goto(&format!("{}/portal/sign-in", app.base)).await.unwrap();
        click(&c, "#register-link").await;
        wait_for_text(&c, "h1", "Create your portal account").await;
        fill(&c, "email", "rita@example.test").await;
        fill(&c, "last_name", last).await;
        set_value(&c, "date_of_birth", "1984-06-02").await;
        fill(&c, "zip", "62701").await;
        click(&c, "#portal-register").await;
        let text = wait_for_text(&c, "#request-received", "").await;
        answers.push(text);
    }
    assert_eq!(answers[0], answers[1], "a mismatch must read exactly like a match");

    let link = app.link_in_mail_to("rita@example.test", 0).await;
    assert!(link.contains("/portal/register/complete/"), "{link}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mail = app.mail.as_ref().unwrap();
    assert_eq!(mail.received().iter().filter(|m| m.rcpt_to.iter().any(|r| r.contains("rita@"))).count(), 1);

    c.goto(&link).await.unwrap();
    set_password(&c, Some("rita.reyes"), PATIENT_PASSWORD).await;
    portal_sign_in(&c, &app.base, "rita.reyes", PATIENT_PASSWORD).await;
    wait_for_text(&c, "#patient-name", "Rita Reyes").await;
    c.close().await.unwrap();
}

/// Seed 003: an invitation link used after 24 hours shows a page that leads to "Forgot password",
/// whose e-mail (over SMTP) carries a fresh link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_invitation_leads_to_forgot_password() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let pid = app.patient("Evan", "Estes", "1979-03-15", "evan@example.test").await;
    enable(&app, &pid).await;
    invite(&app, &pid, InviteTo::Patient, None).await;
    let link = app.link_in_mail_to("evan@example.test", 0).await;
    // The recipient comes back after the 24 hours: the link's expiry is moved to the past.
    let hash = portal_auth::tokens::hash_token(link.rsplit('/').next().expect("token"));
    app.db
        .db
        .write(move |tx| {
            Box::pin(async move {
                let past = portal_core::time_util::now_utc() - time::Duration::minutes(1);
                portal_store::portal_accounts::expire_token(tx, &hash, past).await
            })
        })
        .await
        .expect("expire");
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.goto(&link).await.unwrap();
    wait_for_text(&c, "#link-unusable", "expired").await;
    click(&c, "#link-forgot-password").await;
    wait_for_text(&c, "#as-patient", "I am the patient").await;
    fill(&c, "patient-email", "evan@example.test").await;
    fill(&c, "patient-last_name", "Estes").await;
    set_value(&c, "patient-date_of_birth", "1979-03-15").await;
    fill(&c, "patient-zip", "62701").await;
    click(&c, "#forgot-patient").await;
    wait_for_text(&c, "#request-received", "").await;

    let fresh = app.link_in_mail_to("evan@example.test", 1).await;
    assert_ne!(fresh, link);
    c.goto(&fresh).await.unwrap();
    set_password(&c, Some("evan.estes"), PATIENT_PASSWORD).await;
    portal_sign_in(&c, &app.base, "evan.estes", PATIENT_PASSWORD).await;
    wait_for_text(&c, "#patient-name", "Evan Estes").await;
    c.close().await.unwrap();
}

/// Seed 003: a guardian holds one account for two children and switches between them; when staff
/// revoke one grant, the next click on that child is refused (L3 8.3.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_switches_between_two_children_and_a_revoked_grant_is_refused() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let mut kids = Vec::new();
    for (first, dob) in [("Gus", "2015-05-05"), ("Gia", "2018-08-08")] {
        let pid = app.patient(first, "Garcia", dob, &format!("{}@example.test", first.to_lowercase())).await;
        enable(&app, &pid).await;
        let contact = portal_practice::patients::add_contact(
            &app.db.db,
            &Actor::system(),
            &pid,
            portal_practice::patients::ContactInput {
                kind: "guardian".into(),
                first_name: "Gwen".into(),
                last_name: "Garcia".into(),
                relation: Some("Mother".into()),
                email: Some("gwen@example.test".into()),
                phone: None,
            },
        )
        .await
        .expect("guardian");
        kids.push((pid, contact.id));
    }
    // The first invitation creates Gwen's account; the second finds it by e-mail and adds a grant.
    invite(&app, &kids[0].0, InviteTo::Contact { contact_id: kids[0].1.clone() }, None).await;
    let link = app.link_in_mail_to("gwen@example.test", 0).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    c.goto(&link).await.unwrap();
    set_password(&c, Some("gwen.garcia"), PATIENT_PASSWORD).await;
    let accounts = portal_auth::portal_grants::accounts_by_email(&app.db.db, &Actor::system(), "gwen@example.test")
        .await
        .expect("accounts");
    invite(&app, &kids[1].0, InviteTo::ExistingAccount { account_id: accounts[0].account_id.clone() }, None).await;

    portal_sign_in(&c, &app.base, "gwen.garcia", PATIENT_PASSWORD).await;
    wait_for_text(&c, "#patient-switcher", "Gia").await;
    for (pid, name) in [(&kids[0].0, "Gus Garcia"), (&kids[1].0, "Gia Garcia")] {
        click(&c, &format!("#switch-{pid}")).await;
        wait_for_text(&c, "#patient-name", name).await;
    }

    // Staff revoke Gia's grant; the guardian is still on Gia's page and clicks again.
    let users = portal_auth::portal_grants::portal_users(&app.db.db, &Actor::system(), &kids[1].0).await.unwrap();
    portal_auth::portal_grants::revoke_grant(&app.db.db, &Actor::system(), &kids[1].0, &users[0].grant_id)
        .await
        .expect("revoke");
    c.refresh().await.unwrap();
    wait_for_text(&c, "#portal-message h1", "Not found").await;
    assert!(!page_text(&c).await.contains("Gia Garcia"));
    c.goto(&format!("{}/portal", app.base)).await.unwrap();
    wait_for_text(&c, "#patient-name", "Gus Garcia").await;
    c.close().await.unwrap();
}

/// The walk (seeds 002, 004): staff enable a patient's access and send the invitation from
/// the facesheet's Portal tab; the e-mail arrives over SMTP; the patient follows its link, chooses a
/// username and password, signs in; the status on the facesheet turns green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_enable_and_invite_then_the_patient_signs_in_and_turns_green() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let pid = app.patient("Nina", "Nolan", "1990-01-20", "nina@example.test").await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, FRONT_DESK_EMAIL).await;

    c.goto(&format!("{}/patients/{pid}/portal", app.base)).await.unwrap();
    c.find(Locator::Css("#access_level option[value=can_access]")).await.unwrap().click().await.unwrap();
    click(&c, "#access-save").await;
    wait_for_text(&c, "#portal-status", "Enabled, not invited").await;
    let status = c.find(Locator::Css("#portal-status [data-portal-status]")).await.unwrap();
    assert_eq!(status.attr("data-portal-status").await.unwrap().as_deref(), Some("gray"));
    click(&c, "#send-patient-invite").await;
    wait_for_text(&c, "#sent-notice", "invitation").await;
    wait_for_text(&c, "#portal-status", "Invited, not signed in").await;

    let link = app.link_in_mail_to("nina@example.test", 0).await;
    assert!(link.starts_with(&format!("{}/portal/set-password/", app.base)), "{link}");
    // The patient's own browser (a profile of its own).
    let patient_driver = start_driver().await;
    let patient = browser(&patient_driver).await;
    patient.goto(&link).await.unwrap();
    set_password(&patient, Some("nina.nolan"), PATIENT_PASSWORD).await;
    portal_sign_in(&patient, &app.base, "nina.nolan", PATIENT_PASSWORD).await;
    wait_for_text(&patient, "#patient-name", "Nina Nolan").await;

    c.refresh().await.unwrap();
    wait_for_text(&c, "#portal-status", "Signed in").await;
    let status = c.find(Locator::Css("#portal-status [data-portal-status]")).await.unwrap();
    assert_eq!(status.attr("data-portal-status").await.unwrap().as_deref(), Some("green"));
    patient.close().await.unwrap();
    c.close().await.unwrap();
}

/// Seed 004's Onboarding Tool: 1,000 patients enabled and invited at once, with progress and a
/// summary; the worker then delivers every invitation over SMTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_invitation_of_a_thousand_from_the_onboarding_tool() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let mut csv = String::from("first_name,last_name,date_of_birth,email,zip,location\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "Bo{i},Bulkwalk,1970-01-{:02},bo{i}@bulk.example,62701,Main Street Clinic\n",
            1 + i % 28
        ));
    }
    let report = portal_practice::import::import_patients_csv(&app.db.db, &Actor::system(), csv.as_bytes())
        .await
        .expect("import");
    assert_eq!(report.imported, 1000, "{:?}", report.errors);
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, FRONT_DESK_EMAIL).await;

    c.goto(&format!("{}/onboarding?q=Bulkwalk", app.base)).await.unwrap();
    wait_for_text(&c, "#bulk-all", "all 1000").await;
    click(&c, "#bulk-all").await;
    // The button asks first (a confirmation dialog).
    c.accept_alert().await.expect("the confirmation");
    let sent = wait_for_summary(&c).await;
    assert_eq!(sent.trim(), "1000", "invitations sent");

    let mail = app.mail.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while mail.received().len() < 1000 {
        assert!(Instant::now() < deadline, "{} of 1,000 invitations delivered in 120 s", mail.received().len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    c.close().await.unwrap();
}

/// The bulk job's page once it has finished (it updates itself with script; without, reload):
/// the number of invitations sent.
async fn wait_for_summary(c: &Client) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(el) = c.find(Locator::Id("summary-sent")).await
            && let Ok(t) = el.text().await
            && !t.trim().is_empty()
        {
            return t;
        }
        assert!(Instant::now() < deadline, "no summary after 120 s: {}", page_text(c).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
