//! Self-registration and forgot password (seeds 002, 003): identical answers, a link only for an
//! exact match with one patient whose access is enabled, and an audit row either way.

mod portal_common;

use portal_auth::PortalError;
use portal_auth::invitations::InviteTo;
use portal_auth::registration::{
    ANONYMOUS_LINKS_PER_PATIENT_PER_DAY, ForgotPasswordInput, IdentityInput, request_password_reset,
    request_registration,
};
use portal_common::*;
use portal_core::audit::AuditAction;
use portal_core::events::LinkPurpose;

fn ann() -> IdentityInput {
    IdentityInput {
        email: " ANN@example.org ".into(),
        last_name: "lee ".into(),
        date_of_birth: "1980-01-15".into(),
        zip: "02139-1234".into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exact_match_sends_a_registration_link_that_creates_the_account() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    request_registration(w.db(), &ann(), Some("10.1.1.1".into())).await.unwrap();
    let (purpose, token) = w.last_link_to("ann@example.org").await;
    assert_eq!(purpose, LinkPurpose::Registration);
    let view = portal_auth::portal_links::inspect_link(w.db(), &token).await.unwrap();
    assert!(view.needs_username);
    let done = w.accept(&token, Some("ann"), PASSWORD).await.unwrap();
    assert!(done.registration_completed);
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    assert_eq!(s.principal.grants.len(), 1);
    assert_eq!(s.principal.grants[0].patient_id.as_str(), pid);
    let rows = w.audit(AuditAction::PortalRegistrationRequested).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].patient_id.as_deref(), Some(pid.as_str()));
    assert_eq!(detail(&rows[0])["matched"], true);
    assert_eq!(rows[0].actor_kind, "anonymous");
    assert_eq!(rows[0].ip.as_deref(), Some("10.1.1.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn any_wrong_fact_sends_nothing_and_answers_the_same() {
    let w = World::new().await;
    w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let wrong = [
        IdentityInput { email: "other@example.org".into(), ..ann() },
        IdentityInput { last_name: "Leigh".into(), ..ann() },
        IdentityInput { date_of_birth: "1980-01-16".into(), ..ann() },
        IdentityInput { zip: "02138".into(), ..ann() },
    ];
    for input in &wrong {
        assert!(request_registration(w.db(), input, None).await.is_ok());
        assert!(request_password_reset(w.db(), &ForgotPasswordInput::Patient(input.clone()), None).await.is_ok());
    }
    assert!(events(w.db()).await.is_empty());
    let rows = w.audit(AuditAction::PortalRegistrationRequested).await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| detail(r)["matched"] == false && r.patient_id.is_none()));
    assert_eq!(w.audit(AuditAction::PortalPasswordResetRequested).await.len(), 4);
    // Malformed facts are field errors (they say nothing about any record).
    let bad =
        IdentityInput { email: "x".into(), last_name: "".into(), date_of_birth: "15/01/1980".into(), zip: "1".into() };
    let mut f = invalid_fields(request_registration(w.db(), &bad, None).await);
    f.sort();
    assert_eq!(f, ["date_of_birth", "email", "last_name", "zip"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_link_without_enabled_access_or_with_two_identical_records() {
    let w = World::new().await;
    let pid = w.patient(PatientSpec::new("Ann", "Lee").email("ann@example.org").zip("02139").at(&w.loc)).await;
    request_registration(w.db(), &ann(), None).await.unwrap();
    assert!(w.links_to("ann@example.org").await.is_empty(), "access not enabled");
    set_access(w.db(), &pid, true).await;
    let twin = w.patient(PatientSpec::new("Ann", "Lee").email("ann@example.org").zip("02139").at(&w.loc)).await;
    set_access(w.db(), &twin, true).await;
    request_registration(w.db(), &ann(), None).await.unwrap();
    assert!(w.links_to("ann@example.org").await.is_empty(), "ambiguous: staff must fix the records");
    // Family members sharing the address but with other names or birthdays are told apart.
    let w2 = World::new().await;
    w2.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let kid = w2
        .patient(
            PatientSpec::new("Kid", "Lee")
                .email("ann@example.org")
                .zip("02139")
                .dob(time::macros::date!(2015 - 03 - 01))
                .at(&w2.loc),
        )
        .await;
    set_access(w2.db(), &kid, true).await;
    request_registration(w2.db(), &ann(), None).await.unwrap();
    assert_eq!(w2.links_to("ann@example.org").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_answered_while_the_portal_is_off() {
    let w = World::new().await;
    w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    set_use_portal(w.db(), false).await;
    assert!(matches!(request_registration(w.db(), &ann(), None).await, Err(PortalError::PortalUnavailable)));
    let f = ForgotPasswordInput::Patient(ann());
    assert!(matches!(request_password_reset(w.db(), &f, None).await, Err(PortalError::PortalUnavailable)));
}

#[tokio::test(flavor = "multi_thread")]
async fn registering_again_with_an_account_sends_a_reset_instead() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    request_registration(w.db(), &ann(), None).await.unwrap();
    let (purpose, token) = w.last_link_to("ann@example.org").await;
    assert_eq!(purpose, LinkPurpose::Reset);
    let done = w.accept(&token, None, NEW_PASSWORD).await.unwrap();
    assert_eq!(done.username, "ann");
    assert!(w.sign_in("ann", NEW_PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn forgot_password_by_facts_or_by_username_and_email() {
    let w = World::new().await;
    // A patient who was enabled but never registered: the reset link creates the account.
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    request_password_reset(w.db(), &ForgotPasswordInput::Patient(ann()), None).await.unwrap();
    let (purpose, token) = w.last_link_to("ann@example.org").await;
    assert_eq!(purpose, LinkPurpose::Reset);
    w.accept(&token, Some("ann"), PASSWORD).await.unwrap();

    // A contact's account: username and e-mail.
    let mom = w.contact(&pid, "guardian", "Mom", Some("mom@example.org")).await;
    w.invite(&pid, InviteTo::Contact { contact_id: mom }).await.unwrap();
    let (_, t) = w.last_link_to("mom@example.org").await;
    w.accept(&t, Some("mom"), PASSWORD).await.unwrap();
    let before = w.links_to("mom@example.org").await.len();
    let wrong = ForgotPasswordInput::Account { username: "mom".into(), email: "ann@example.org".into() };
    request_password_reset(w.db(), &wrong, None).await.unwrap();
    let unknown = ForgotPasswordInput::Account { username: "nobody".into(), email: "mom@example.org".into() };
    request_password_reset(w.db(), &unknown, None).await.unwrap();
    assert_eq!(w.links_to("mom@example.org").await.len(), before);
    let right = ForgotPasswordInput::Account { username: "MOM".into(), email: "Mom@Example.org".into() };
    request_password_reset(w.db(), &right, None).await.unwrap();
    let (purpose, t2) = w.last_link_to("mom@example.org").await;
    assert_eq!(purpose, LinkPurpose::Reset);
    w.accept(&t2, None, NEW_PASSWORD).await.unwrap();
    assert!(w.sign_in("mom", NEW_PASSWORD).await.is_ok());
    let rows = w.audit(AuditAction::PortalPasswordResetRequested).await;
    assert_eq!(rows.iter().filter(|r| detail(r)["matched"] == true).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_requests_cannot_flood_a_patients_mailbox() {
    let w = World::new().await;
    w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    for _ in 0..ANONYMOUS_LINKS_PER_PATIENT_PER_DAY + 3 {
        request_registration(w.db(), &ann(), None).await.unwrap();
    }
    assert_eq!(w.links_to("ann@example.org").await.len() as i64, ANONYMOUS_LINKS_PER_PATIENT_PER_DAY);
    let rows = w.audit(AuditAction::PortalRegistrationRequested).await;
    assert_eq!(rows.iter().filter(|r| detail(r)["sent"] == false).count(), 3);
    // Only the newest link works: each replaces the one before.
    let links = w.links_to("ann@example.org").await;
    assert!(w.accept(&links[0].1, Some("ann"), PASSWORD).await.is_err());
    assert!(w.accept(&links.last().unwrap().1, Some("ann"), PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_sent_to_an_old_address_stops_working_when_staff_change_it() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    request_registration(w.db(), &ann(), None).await.unwrap();
    let (_, token) = w.last_link_to("ann@example.org").await;
    let id = pid.clone();
    w.db()
        .write(move |tx| {
            Box::pin(async move { portal_store::portal_access::set_facesheet_email(tx, &id, "new@example.org").await })
        })
        .await
        .unwrap();
    match w.accept(&token, Some("ann"), PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: portal_auth::LinkProblem::NoLongerValid }) => {}
        other => panic!("{other:?}"),
    }
}
