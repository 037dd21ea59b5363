//! Invitations (seeds 002, 003), completing links, guardians with one account for several
//! children, designated users, and credentials set at the desk.

mod portal_common;

use portal_auth::PortalError;
use portal_auth::invitations::{self, InviteTo};
use portal_auth::portal_error::LinkProblem;
use portal_auth::portal_sessions;
use portal_common::*;
use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_core::portal_accounts::{GrantScope, InviteRefused};
use portal_core::staff::StaffRole;
use portal_store::portal_accounts as accounts;

#[tokio::test(flavor = "multi_thread")]
async fn inviting_a_patient_creates_the_account_the_grant_and_a_hashed_single_use_link() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let sent = w.invite(&pid, InviteTo::Patient).await.unwrap();
    assert_eq!(sent.purpose, LinkPurpose::Invitation);
    assert_eq!(sent.relation, Relation::Myself);
    assert!(sent.grant_created);
    assert_eq!(sent.to, "ann@example.org");

    let (purpose, token) = w.last_link_to("ann@example.org").await;
    assert_eq!(purpose, LinkPurpose::Invitation);
    assert_eq!(token.len(), 64, "256 bits, hex");
    let mut conn = w.db().read().await.unwrap();
    let rows = accounts::tokens_of_patient(&mut conn, &pid).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].token_hash, hash(&token), "only the SHA-256 is stored");
    assert_ne!(rows[0].token_hash, token);
    assert_eq!(rows[0].expires_at - rows[0].created_at, time::Duration::hours(24));
    drop(conn);

    // The event carries the patient (for branding) and no staff message.
    let ev = events(w.db()).await.into_iter().find(|e| e.kind() == "account_link_issued").unwrap();
    match ev {
        DomainEvent::AccountLinkIssued { patient_id, account_id, message, .. } => {
            assert_eq!(patient_id.as_deref(), Some(pid.as_str()));
            assert_eq!(account_id.as_deref(), Some(sent.account_id.as_str()));
            assert_eq!(message, None);
        }
        other => panic!("{other:?}"),
    }
    let p = w.patient_row(&pid).await;
    assert!(p.portal_last_invited_at.is_some(), "orange from now on");
    assert_eq!(w.audit(AuditAction::PortalGrantCreated).await.len(), 1);
    let sent_rows = w.audit(AuditAction::PortalInvitationSent).await;
    assert_eq!(sent_rows.len(), 1);
    assert_eq!(sent_rows[0].patient_id.as_deref(), Some(pid.as_str()));

    // The link completes registration once.
    let done = w.accept(&token, Some("AnnLee"), PASSWORD).await.unwrap();
    assert_eq!(done.username, "annlee");
    assert!(done.registration_completed);
    let completed: Vec<_> =
        events(w.db()).await.into_iter().filter(|e| e.kind() == "portal_registration_completed").collect();
    assert_eq!(
        completed,
        vec![DomainEvent::PortalRegistrationCompleted {
            account_id: sent.account_id.clone(),
            patient_id: pid.clone(),
            relation: Relation::Myself
        }]
    );
    assert_eq!(w.audit(AuditAction::PortalRegistrationCompleted).await.len(), 1);
    match w.accept(&token, None, NEW_PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Used }) => {}
        other => panic!("a used link must be refused, got {other:?}"),
    }
    assert!(w.sign_in("annlee", PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn invitations_are_refused_without_permission_location_portal_or_access() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    // Billing may view patients but not edit them.
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    let r = invitations::invite(w.db(), &billing, &pid, invite_input(InviteTo::Patient)).await;
    assert_access(r, AccessError::Forbidden { needs: "Edit Patients" });
    // A patient of another location answers like a missing one.
    let elsewhere = staff(StaffRole::FrontDesk, &[&w.other_loc]);
    let r = invitations::invite(w.db(), &elsewhere, &pid, invite_input(InviteTo::Patient)).await;
    assert_access(r, AccessError::NotFound);
    assert_access(w.invite("not-an-id", InviteTo::Patient).await, AccessError::NotFound);
    // Access not enabled.
    let red = w.patient(PatientSpec::new("Bob", "Ray").email("bob@example.org").zip("02139").at(&w.loc)).await;
    assert!(matches!(
        w.invite(&red, InviteTo::Patient).await,
        Err(PortalError::Invite(InviteRefused::AccessNotEnabled))
    ));
    // Seed 000: while the portal is off no invitation can be sent.
    set_use_portal(w.db(), false).await;
    assert!(matches!(w.invite(&pid, InviteTo::Patient).await, Err(PortalError::Invite(InviteRefused::PortalOff))));
    assert!(w.links_to("ann@example.org").await.is_empty());
    assert!(w.audit(AuditAction::PortalInvitationSent).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn inviting_a_contact_warns_about_phi_and_takes_the_relation_from_the_contact() {
    let w = World::new().await;
    let pid = w.enabled_patient("Kid", "Lee", "family@example.org").await;
    let guardian = w.contact(&pid, "guardian", "Mom", Some("mom@example.org")).await;
    let emergency = w.contact(&pid, "emergency", "Uncle", Some("uncle@example.org")).await;
    let no_mail = w.contact(&pid, "guarantor", "Dad", None).await;

    let mut input = invite_input(InviteTo::Contact { contact_id: guardian.clone() });
    input.phi_warning_acknowledged = false;
    let r = invitations::invite(w.db(), &w.desk, &pid, input).await;
    assert!(matches!(r, Err(PortalError::Invite(InviteRefused::PhiWarningNotAcknowledged))), "{r:?}");

    // An emergency contact's role alone grants nothing: staff must choose the relation.
    assert_eq!(invalid_fields(w.invite(&pid, InviteTo::Contact { contact_id: emergency.clone() }).await), ["relation"]);
    let mut input = invite_input(InviteTo::Contact { contact_id: emergency });
    input.relation = Some("other".into());
    assert_eq!(invitations::invite(w.db(), &w.desk, &pid, input).await.unwrap().relation, Relation::Other);

    let r = w.invite(&pid, InviteTo::Contact { contact_id: no_mail }).await;
    assert!(matches!(r, Err(PortalError::Invite(InviteRefused::NoEmail { whom: "contact" }))), "{r:?}");

    let mut input = invite_input(InviteTo::Contact { contact_id: guardian.clone() });
    input.relation = Some("self".into());
    assert_eq!(invalid_fields(invitations::invite(w.db(), &w.desk, &pid, input).await), ["relation"]);

    let sent = w.invite(&pid, InviteTo::Contact { contact_id: guardian.clone() }).await.unwrap();
    assert_eq!(sent.relation, Relation::Guardian);
    assert_eq!(sent.to, "mom@example.org");
    // Inviting the same contact again reuses the account and grant, and replaces the link.
    let (_, first) = w.last_link_to("mom@example.org").await;
    let again = w.invite(&pid, InviteTo::Contact { contact_id: guardian }).await.unwrap();
    assert_eq!(again.account_id, sent.account_id);
    assert!(!again.grant_created);
    match w.accept(&first, Some("mom"), PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Used }) => {}
        other => panic!("the older link is replaced by the newer, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardian_with_one_account_for_two_children_holds_two_grants() {
    let w = World::new().await;
    let kid1 = w.enabled_patient("Amy", "Lee", "family@example.org").await;
    let kid2 = w.enabled_patient("Ben", "Lee", "family@example.org").await;
    let mom1 = w.contact(&kid1, "guardian", "Mom", Some("mom@example.org")).await;
    let sent = w.invite(&kid1, InviteTo::Contact { contact_id: mom1 }).await.unwrap();
    let (_, token) = w.last_link_to("mom@example.org").await;
    w.accept(&token, Some("mom.lee"), PASSWORD).await.unwrap();

    // "Link User by Email": staff find the account and add the second child to it.
    let found = portal_auth::portal_grants::accounts_by_email(w.db(), &w.desk, "MOM@example.org").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].account_id, sent.account_id);
    let mut input = invite_input(InviteTo::ExistingAccount { account_id: sent.account_id.clone() });
    input.relation = Some("guardian".into());
    let linked = invitations::invite(w.db(), &w.desk, &kid2, input).await.unwrap();
    assert_eq!(linked.account_id, sent.account_id);
    assert_eq!(linked.purpose, LinkPurpose::Reset, "the account already has a password");

    let signed = w.sign_in("mom.lee", PASSWORD).await.unwrap();
    let mut reach: Vec<_> =
        signed.principal.grants.iter().map(|g| (g.patient_id.to_string(), g.relation.as_str())).collect();
    reach.sort();
    let mut expected = vec![(kid1.clone(), "guardian"), (kid2.clone(), "guardian")];
    expected.sort();
    assert_eq!(reach, expected);
    let list = portal_sessions::my_patients(w.db(), &signed.principal).await.unwrap();
    assert_eq!(list.iter().map(|p| p.first_name.as_str()).collect::<Vec<_>>(), ["Amy", "Ben"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn designated_users_get_new_accounts_even_on_a_shared_address() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "shared@example.org").await;
    let (_, token) = {
        w.invite(&pid, InviteTo::Patient).await.unwrap();
        w.last_link_to("shared@example.org").await
    };
    w.accept(&token, Some("ann"), PASSWORD).await.unwrap();
    let mut input =
        invite_input(InviteTo::Designated { name: "Carl Helper".into(), email: "Shared@Example.org".into() });
    input.scopes = Some(vec!["appointments".into(), "billing".into()]);
    input.ends_on = Some("2999-12-31".into());
    let sent = invitations::invite(w.db(), &w.desk, &pid, input).await.unwrap();
    assert_eq!(sent.relation, Relation::Other);
    assert_eq!(sent.purpose, LinkPurpose::Invitation);
    let (_, t2) = w.last_link_to("shared@example.org").await;
    // Family members sharing an address still need their own usernames.
    assert_eq!(invalid_fields(w.accept(&t2, Some("ANN"), PASSWORD).await), ["username"]);
    w.accept(&t2, Some("carl"), PASSWORD).await.unwrap();
    let carl = w.sign_in("carl", PASSWORD).await.unwrap().principal;
    let p = portal_core::ids::PatientId::from_trusted(pid.clone());
    assert!(carl.require(&p, GrantScope::Billing).is_ok());
    assert!(matches!(carl.require(&p, GrantScope::Messages), Err(AccessError::Forbidden { .. })));

    let mut bad = invite_input(InviteTo::Designated { name: "".into(), email: "nope".into() });
    bad.scopes = Some(vec![]);
    bad.ends_on = Some("2000-01-01".into());
    bad.message = Some("x".repeat(2001));
    bad.intake_form_ids = vec!["../etc".into()];
    let mut fields = invalid_fields(invitations::invite(w.db(), &w.desk, &pid, bad).await);
    fields.sort();
    assert_eq!(fields, ["email", "ends_on", "intake_form_ids", "message", "name", "scopes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_intake_forms_and_message_are_kept_with_the_invitation() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let form = portal_store::ids::new_id();
    let mut input = invite_input(InviteTo::Patient);
    input.message = Some("Please fill in the forms before Monday.".into());
    input.intake_form_ids = vec![form.clone(), form.clone()];
    invitations::invite(w.db(), &w.desk, &pid, input).await.unwrap();
    let mut conn = w.db().read().await.unwrap();
    let row = accounts::tokens_of_patient(&mut conn, &pid).await.unwrap().remove(0);
    let data: serde_json::Value = serde_json::from_str(&row.data).unwrap();
    assert_eq!(data["message"], "Please fill in the forms before Monday.");
    assert_eq!(data["intake_form_ids"], serde_json::json!([form]));
    // The e-mail never carries it (no PHI in e-mails).
    let payloads: Vec<String> = outbox_rows(w.db()).await.into_iter().map(|e| e.payload).collect();
    assert!(payloads.iter().all(|p| !p.contains("Monday")));
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_unknown_links_are_refused_distinctly_from_bad_input() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    w.invite(&pid, InviteTo::Patient).await.unwrap();
    let (_, token) = w.last_link_to("ann@example.org").await;
    // Bad input leaves the link usable.
    let mut fields = invalid_fields(w.accept(&token, None, "short").await);
    fields.sort();
    assert_eq!(fields, ["password", "username"]);
    let view = portal_links_inspect(&w, &token).await.unwrap();
    assert!(view.needs_username);

    expire(&w, &token).await;
    match w.accept(&token, Some("ann"), PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Expired }) => {}
        other => panic!("{other:?}"),
    }
    match w.accept(&"0".repeat(64), Some("ann"), PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Unknown }) => {}
        other => panic!("{other:?}"),
    }
    match w.accept("../../etc/passwd", Some("ann"), PASSWORD).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Unknown }) => {}
        other => panic!("{other:?}"),
    }
}

async fn portal_links_inspect(w: &World, token: &str) -> Result<portal_auth::portal_links::LinkView, PortalError> {
    portal_auth::portal_links::inspect_link(w.db(), token).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_ends_the_accounts_sessions_and_sends_a_notice() {
    let w = World::new().await;
    let (pid, done) = w.registered_patient("Ann", "ann@example.org", "ann").await;
    let s1 = w.sign_in("ann", PASSWORD).await.unwrap();
    assert!(w.session(&s1.token).await.is_some());
    let sent = w.invite(&pid, InviteTo::Patient).await.unwrap();
    assert_eq!(sent.purpose, LinkPurpose::Reset);
    let (purpose, token) = w.last_link_to("ann@example.org").await;
    assert_eq!(purpose, LinkPurpose::Reset);
    let mut conn = w.db().read().await.unwrap();
    let row = accounts::find_token(&mut conn, &hash(&token)).await.unwrap().unwrap();
    assert_eq!(row.expires_at - row.created_at, time::Duration::hours(1), "resets live one hour");
    drop(conn);
    // The username exists: it is not asked for again, and cannot be changed here.
    assert_eq!(invalid_fields(w.accept(&token, Some("someone.else"), NEW_PASSWORD).await), ["username"]);
    let reset = w.accept(&token, None, NEW_PASSWORD).await.unwrap();
    assert!(!reset.registration_completed);
    assert_eq!(reset.sessions_ended, 1);
    assert!(w.session(&s1.token).await.is_none());
    let notices: Vec<_> = events(w.db()).await.into_iter().filter(|e| e.kind() == "password_changed_notice").collect();
    assert_eq!(
        notices,
        vec![DomainEvent::PasswordChangedNotice { account_id: done.account_id, to: "ann@example.org".into() }]
    );
    assert_eq!(w.audit(AuditAction::PortalPasswordReset).await.len(), 1);
    assert!(w.sign_in("ann", PASSWORD).await.is_err());
    assert!(w.sign_in("ann", NEW_PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_set_at_the_desk_must_be_changed_at_first_sign_in() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let set =
        invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, Some("Ann.Lee"), "temporary pass 1")
            .await
            .unwrap();
    assert!(set.account_created);
    assert_eq!(set.username, "ann.lee");
    assert_eq!(w.audit(AuditAction::PortalCredentialsSet).await.len(), 1);

    let signed = w.sign_in("ann.lee", "temporary pass 1").await.unwrap();
    assert!(signed.must_change_password);
    let p = portal_core::ids::PatientId::from_trusted(pid.clone());
    assert!(matches!(signed.principal.require(&p, GrantScope::Messages), Err(AccessError::Forbidden { .. })));
    // First sign-in turns the status green even without an invitation.
    assert!(w.patient_row(&pid).await.portal_last_signed_in_at.is_some());

    let session = w.session(&signed.token).await.unwrap();
    let r =
        portal_sessions::change_portal_password(w.db(), &w.hasher, &session, "wrong one!", NEW_PASSWORD, None).await;
    assert_eq!(invalid_fields(r), ["current_password"]);
    portal_sessions::change_portal_password(w.db(), &w.hasher, &session, "temporary pass 1", NEW_PASSWORD, None)
        .await
        .unwrap();
    let after = w.session(&signed.token).await.unwrap();
    assert!(!after.principal.must_change_password);
    assert!(after.principal.require(&p, GrantScope::Messages).is_ok());
    assert_eq!(events(w.db()).await.iter().filter(|e| e.kind() == "portal_registration_completed").count(), 1);

    // A second desk set-up keeps the username, replaces the password and ends sessions.
    let r = invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, Some("other"), "temporary pass 2")
        .await;
    assert_eq!(invalid_fields(r), ["username"]);
    let again = invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, None, "temporary pass 2")
        .await
        .unwrap();
    assert!(!again.account_created);
    assert_eq!(again.sessions_ended, 1);
    assert!(w.session(&signed.token).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_at_the_desk_are_refused_from_every_side() {
    let w = World::new().await;
    let pid = w.enabled_patient("Ann", "Lee", "ann@example.org").await;
    let other = w.enabled_patient("Bob", "Ray", "bob@example.org").await;
    invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &other, Some("taken"), "temporary pass 1")
        .await
        .unwrap();
    let r = invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, Some("TAKEN"), "temporary pass 1")
        .await;
    assert_eq!(invalid_fields(r), ["username"]);
    let r = invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, None, "password").await;
    let mut f = invalid_fields(r);
    f.sort();
    assert_eq!(f, ["password", "username"]);
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    let r = invitations::set_credentials_in_person(w.db(), &w.hasher, &billing, &pid, Some("ann"), "temporary pass 1")
        .await;
    assert_access(r, AccessError::Forbidden { needs: "Edit Patients" });
    let far = staff(StaffRole::FrontDesk, &[&w.other_loc]);
    let r =
        invitations::set_credentials_in_person(w.db(), &w.hasher, &far, &pid, Some("ann"), "temporary pass 1").await;
    assert_access(r, AccessError::NotFound);
    set_access(w.db(), &pid, false).await;
    let r =
        invitations::set_credentials_in_person(w.db(), &w.hasher, &w.desk, &pid, Some("ann"), "temporary pass 1").await;
    assert!(matches!(r, Err(PortalError::Invite(InviteRefused::AccessNotEnabled))), "{r:?}");
}
