//! Browser walks of secure messaging (seed 001, "My Messages"): a clinician messages a patient from
//! the chart; the patient gets the e-mail over SMTP, signs in and replies; the clinician's header
//! count rises without a reload; archive, a new reply bringing the thread back, search. Then the
//! refused sides: a front-desk user without Available for Portal Messages has no type choice, a
//! guardian writes about each of two children separately, and a clinician taken off the care team
//! can no longer reply.

use fantoccini::{Client, Locator};
use portal_auth::invitations::InviteTo;
use portal_auth::staff::StaffInput;
use portal_core::Actor;
use portal_core::staff::PortalPermission;

use super::{PATIENT_PASSWORD, click, enable, fill, invite, portal_sign_in, set_password};
use crate::browser_support::*;

pub(super) const CLINICIAN_EMAIL: &str = "cleo.clinic@clinic.example";

/// A clinician at the fixture's location with Available for Portal Messages, on the care team of
/// each of `patients`.
pub(super) async fn clinician(app: &Fixture, patients: &[&str]) -> String {
    let sys = Actor::system();
    let v = portal_auth::staff::create(
        &app.db.db,
        &portal_auth::PasswordHasher::new(2),
        &sys,
        StaffInput {
            name: "Cleo Clinic".into(),
            email: CLINICIAN_EMAIL.into(),
            role: "clinician".into(),
            location_ids: vec![app.location_id.clone()],
            active: true,
            password: Some(PASSWORD.into()),
        },
    )
    .await
    .expect("clinician");
    let id = v.row.id;
    portal_auth::staff::set_portal_permission(
        &app.db.db,
        &sys,
        &id,
        PortalPermission::AvailableForPortalMessages,
        true,
    )
    .await
    .expect("portal messages permission");
    for p in patients {
        portal_practice::patients::add_care_team_member(&app.db.db, &sys, p, &id, "Primary clinician")
            .await
            .expect("care team");
    }
    id
}

/// A patient with an active portal account (invited by e-mail, password set through the link in
/// the browser `c`), not signed in afterwards.
pub(super) async fn patient_with_account(app: &Fixture, c: &Client, first: &str, last: &str, username: &str) -> String {
    let email = format!("{}@example.test", first.to_lowercase());
    let pid = app.patient(first, last, "1980-04-04", &email).await;
    enable(app, &pid).await;
    invite(app, &pid, InviteTo::Patient, None).await;
    let link = app.link_in_mail_to(&email, 0).await;
    c.goto(&link).await.unwrap();
    set_password(c, Some(username), PATIENT_PASSWORD).await;
    pid
}

/// The id of the conversation the browser shows (`/messages/{id}` or `/portal/messages/{id}`).
pub(super) async fn conversation_in_url(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    let path = url.path().to_owned();
    path.rsplit('/').next().unwrap().to_owned()
}

pub(super) async fn has(c: &Client, css: &str) -> bool {
    c.find_all(Locator::Css(css)).await.map(|v| !v.is_empty()).unwrap_or(false)
}

/// Seed 001 end to end, as the issue walks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinician_messages_a_patient_who_replies_then_archive_return_and_search() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let patient_driver = start_driver().await;
    let patient = browser(&patient_driver).await;
    let pid = patient_with_account(&app, &patient, "Paula", "Park", "paula.park").await;
    clinician(&app, &[&pid]).await;

    // 1-2: the chart's New Message, type Portal, the one eligible recipient, subject, text, Send.
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, CLINICIAN_EMAIL).await;
    c.goto(&format!("{}/patients/{pid}", app.base)).await.unwrap();
    click(&c, "#chart-new-message").await;
    wait_for_text(&c, "#type-choice", "Portal").await;
    click(&c, "#type-portal").await;
    // The choice reloads the form (script); without it, the "Change type" button does.
    wait_for_text(&c, "#recipient_account_id", "Paula Park").await;
    c.find(Locator::Css("#recipient_account_id option[value]:not([value=''])")).await.unwrap().click().await.unwrap();
    fill(&c, "subject", "Your lab results").await;
    fill(&c, "body", "Your cholesterol results are in and look fine.").await;
    click(&c, "#send-message").await;
    wait_for_text(&c, "#thread-title", "Your lab results").await;
    let conversation = conversation_in_url(&c).await;
    assert!(has(&c, "#view-patient").await, "the thread links to the chart");

    // 3: the e-mail says a message waits, with a link, and none of the message.
    let link = app.link_in_mail_to("paula@example.test", 1).await;
    let mail = app.mail.as_ref().unwrap();
    let notice = mail.received().into_iter().rfind(|m| m.rcpt_to.iter().any(|r| r.contains("paula@"))).unwrap();
    let text = notice.text();
    assert!(text.contains("new message"), "{text}");
    for secret in ["cholesterol", "lab results", "Paula", "Cleo"] {
        assert!(!text.contains(secret), "the e-mail must not carry {secret:?}:\n{text}");
    }

    // The patient follows the link, signs in, sees the count, opens the thread and replies.
    patient.goto(&link).await.unwrap();
    portal_sign_in(&patient, &app.base, "paula.park", PATIENT_PASSWORD).await;
    patient.goto(&format!("{}/portal/messages", app.base)).await.unwrap();
    wait_for_text(&patient, "#portal-unread-badge", "1").await;
    click(&patient, &format!("#conversation-{conversation} a")).await;
    wait_for_text(&patient, "#messages", "cholesterol").await;
    fill(&patient, "reply-body", "Thank you, that is a relief.").await;
    click(&patient, "#send-reply").await;
    wait_for_text(&patient, "#messages", "that is a relief").await;

    // 4: the clinician, still on the thread page, sees the header count rise without a reload.
    wait_for_text(&c, "#header-messages .unread-badge", "1").await;
    // 5: the count opens the inbox, where the conversation has its blue dot.
    click(&c, "#header-messages").await;
    wait_for_text(&c, &format!("#conversation-{conversation}"), "Paula Park").await;
    assert!(has(&c, &format!("#conversation-{conversation}.is-unread")).await, "unread is marked");
    click(&c, &format!("#conversation-{conversation} a")).await;
    wait_for_text(&c, ".message-list", "that is a relief").await;
    // 6: archive; Active no longer lists it, Archived does.
    click(&c, "#archive").await;
    wait_for_text(&c, "h1", "Messages").await;
    assert!(!has(&c, &format!("#conversation-{conversation}")).await, "archived leaves Active");
    click(&c, "#tab-archived").await;
    wait_for_text(&c, &format!("#conversation-{conversation}"), "Paula Park").await;

    // A new reply from the patient brings it back to Active.
    fill(&patient, "reply-body", "One more question about my diet.").await;
    click(&patient, "#send-reply").await;
    wait_for_text(&patient, "#messages", "about my diet").await;
    click(&c, "#tab-active").await;
    wait_for_text(&c, &format!("#conversation-{conversation}"), "Paula Park").await;

    // Search by keyword (at least 3 characters), then clear it.
    fill(&c, "q", "ch").await;
    click(&c, ".message-search button[type=submit]").await;
    wait_for_text(&c, ".error-summary", "3 characters").await;
    fill(&c, "q", "cholesterol").await;
    click(&c, ".message-search button[type=submit]").await;
    wait_for_text(&c, "#results-count", "1 conversation").await;
    assert!(has(&c, &format!("#conversation-{conversation}")).await);
    click(&c, "#clear-search").await;
    wait_for_text(&c, &format!("#conversation-{conversation}"), "Paula Park").await;
    assert!(!has(&c, "#results-count").await);
    patient.close().await.unwrap();
    c.close().await.unwrap();
}

/// Seed 001: "Only users with the Available for portal messages role enabled will have message
/// type options": the front desk writes to staff only, from the chart as from Compose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn front_desk_without_the_permission_sees_no_message_type_choice() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let pid = app.patient("Nora", "North", "1970-07-07", "nora@example.test").await;
    clinician(&app, &[&pid]).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, FRONT_DESK_EMAIL).await;
    c.goto(&format!("{}/patients/{pid}", app.base)).await.unwrap();
    click(&c, "#chart-new-message").await;
    wait_for_text(&c, "#recipients", "Cleo Clinic").await;
    assert!(!has(&c, "#type-choice").await && !has(&c, "#type-portal").await, "no type choice");
    // Asking for the portal type by address changes nothing.
    c.goto(&format!("{}/messages/new?patient={pid}&type=portal", app.base)).await.unwrap();
    wait_for_text(&c, "#recipients", "Cleo Clinic").await;
    assert!(!has(&c, "#type-portal").await && !has(&c, "#recipient_account_id").await);
    // A staff message about the patient carries the View Patient link.
    c.find(Locator::Css("#recipients input[type=checkbox]")).await.unwrap().click().await.unwrap();
    fill(&c, "body", "Please call Nora back about her forms.").await;
    click(&c, "#send-message").await;
    wait_for_text(&c, "#thread-patient", "Nora North").await;
    assert!(has(&c, "#view-patient").await);
    c.close().await.unwrap();
}

/// A guardian with one account writes about each of two children separately; each thread, and
/// the clinician's inbox, says which child it is about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardian_writes_about_each_of_two_children_separately() {
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
    clinician(&app, &[&kids[0].0, &kids[1].0]).await;
    invite(&app, &kids[0].0, InviteTo::Contact { contact_id: kids[0].1.clone() }, None).await;
    let link = app.link_in_mail_to("gwen@example.test", 0).await;
    let driver = start_driver().await;
    let g = browser(&driver).await;
    g.goto(&link).await.unwrap();
    set_password(&g, Some("gwen.garcia"), PATIENT_PASSWORD).await;
    let accounts = portal_auth::portal_grants::accounts_by_email(&app.db.db, &Actor::system(), "gwen@example.test")
        .await
        .expect("accounts");
    invite(&app, &kids[1].0, InviteTo::ExistingAccount { account_id: accounts[0].account_id.clone() }, None).await;
    portal_sign_in(&g, &app.base, "gwen.garcia", PATIENT_PASSWORD).await;
    wait_for_text(&g, "#patient-switcher", "Gia").await;

    let mut threads = Vec::new();
    for ((pid, _), (name, text)) in
        kids.iter().zip([("Gus Garcia", "Gus has a cough since Monday."), ("Gia Garcia", "Gia needs a school form.")])
    {
        g.goto(&format!("{}/portal/messages/new", app.base)).await.unwrap();
        // Two children: the form asks who the message is about, nobody preselected.
        wait_for_text(&g, "#choose-patient-form", "Who is this message about?").await;
        click(&g, &format!("#patient-{pid}")).await;
        click(&g, "#choose-patient").await;
        wait_for_text(&g, "#message-patient", name).await;
        fill(&g, "body", text).await;
        click(&g, "#send-message").await;
        wait_for_text(&g, "#thread-patient", name).await;
        wait_for_text(&g, "#messages", text).await;
        threads.push(conversation_in_url(&g).await);
    }
    assert_ne!(threads[0], threads[1], "one conversation per child");
    g.goto(&format!("{}/portal/messages", app.base)).await.unwrap();
    wait_for_text(&g, &format!("#conversation-{}", threads[0]), "Gus Garcia").await;
    wait_for_text(&g, &format!("#conversation-{}", threads[1]), "Gia Garcia").await;

    // The clinician sees two conversations, each about its child, and the count of both.
    let staff_driver = start_driver().await;
    let c = browser(&staff_driver).await;
    sign_in(&c, &app.base, CLINICIAN_EMAIL).await;
    wait_for_text(&c, "#header-messages .unread-badge", "2").await;
    c.goto(&format!("{}/messages", app.base)).await.unwrap();
    wait_for_text(&c, &format!("#conversation-{}", threads[0]), "Gus Garcia").await;
    wait_for_text(&c, &format!("#conversation-{}", threads[1]), "Gia Garcia").await;
    c.close().await.unwrap();
    g.close().await.unwrap();
}

/// Seed 001: "changes to ... care team member assignment may disable the ability to reply". With
/// portal users writing to the care team only, a clinician taken off the team sees the thread
/// read-only with the reason, and a reply typed before the change is refused and kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_from_a_clinician_removed_from_the_care_team_is_refused() {
    if !enabled() {
        return;
    }
    let app = start_app_with_mail().await;
    let patient_driver = start_driver().await;
    let patient = browser(&patient_driver).await;
    let pid = patient_with_account(&app, &patient, "Rosa", "Reed", "rosa.reed").await;
    let clinician_id = clinician(&app, &[&pid]).await;
    portal_messaging::settings::set_portal_messaging_recipients(&app.db.db, &Actor::system(), "care_team")
        .await
        .expect("care-team mode");

    // The patient writes to her care team.
    portal_sign_in(&patient, &app.base, "rosa.reed", PATIENT_PASSWORD).await;
    patient.goto(&format!("{}/portal/messages/new", app.base)).await.unwrap();
    wait_for_text(&patient, "#staff_id", "Cleo Clinic").await;
    fill(&patient, "body", "Can I take my pills with food?").await;
    click(&patient, "#send-message").await;
    wait_for_text(&patient, "#messages", "with food").await;
    let conversation = conversation_in_url(&patient).await;

    // The clinician opens it and starts a reply; meanwhile she is taken off the care team.
    let driver = start_driver().await;
    let c = browser(&driver).await;
    sign_in(&c, &app.base, CLINICIAN_EMAIL).await;
    c.goto(&format!("{}/messages/{conversation}", app.base)).await.unwrap();
    wait_for_text(&c, ".message-list", "with food").await;
    fill(&c, "body", "Yes, with a meal.").await;
    portal_practice::patients::remove_care_team_member(&app.db.db, &Actor::system(), &pid, &clinician_id)
        .await
        .expect("remove from the care team");
    click(&c, "#send-reply").await;
    wait_for_text(&c, "#reply-refused", "care team").await;
    let kept = c.find(Locator::Id("unsent")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("Yes, with a meal."), "the refused text is kept");
    assert!(!has(&c, "#send-reply").await, "the thread is read-only");
    // Opening it again: still read-only, with the reason; the patient never got the reply.
    c.goto(&format!("{}/messages/{conversation}", app.base)).await.unwrap();
    wait_for_text(&c, "#reply-refused", "care team").await;
    patient.refresh().await.unwrap();
    wait_for_text(&patient, "#messages", "with food").await;
    assert!(!page_text(&patient).await.contains("with a meal"));
    c.close().await.unwrap();
    patient.close().await.unwrap();
}
