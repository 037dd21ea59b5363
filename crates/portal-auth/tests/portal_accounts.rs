//! A portal user's e-mail change (seed 000 "Portal Email Changed", seed 004's privacy note) and
//! staff's control of grants (the facesheet's Portal tab).

mod portal_common;

use portal_auth::PortalError;
use portal_auth::email_change::{confirm_email_change, request_email_change};
use portal_auth::invitations::InviteTo;
use portal_auth::portal_error::LinkProblem;
use portal_auth::portal_grants::{self, GrantChange};
use portal_common::*;
use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::events::{DomainEvent, LinkPurpose, Relation};
use portal_core::portal_accounts::GrantScope;
use portal_core::staff::StaffRole;

#[tokio::test(flavor = "multi_thread")]
async fn an_email_change_is_confirmed_by_link_and_the_facesheet_follows() {
    let w = World::new().await;
    let (pid, done) = w.registered_patient("Ann", "ann@example.org", "ann").await;
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    let session = w.session(&s.token).await.unwrap();

    let r = request_email_change(w.db(), &w.hasher, &session, "wrong password", "new@example.org", None).await;
    assert_eq!(invalid_fields(r), ["password"]);
    let r = request_email_change(w.db(), &w.hasher, &session, PASSWORD, "ANN@example.org", None).await;
    assert_eq!(invalid_fields(r), ["new_email"]);
    let r = request_email_change(w.db(), &w.hasher, &session, PASSWORD, "not an address", None).await;
    assert_eq!(invalid_fields(r), ["new_email"]);

    request_email_change(w.db(), &w.hasher, &session, PASSWORD, "New@Example.org", Some("10.0.0.1".into()))
        .await
        .unwrap();
    let (purpose, token) = w.last_link_to("new@example.org").await;
    assert_eq!(purpose, LinkPurpose::EmailChange);
    let evs = events(w.db()).await;
    assert!(evs.contains(&DomainEvent::EmailChangeNotice {
        account_id: done.account_id.clone(),
        to: "ann@example.org".into()
    }));
    // Nothing changes before the link is followed.
    assert_eq!(w.patient_row(&pid).await.email.as_deref(), Some("ann@example.org"));
    assert_eq!(w.audit(AuditAction::PortalEmailChangeRequested).await.len(), 1);

    let changed = confirm_email_change(w.db(), &token, None).await.unwrap();
    assert_eq!(changed.email, "new@example.org");
    assert_eq!(changed.facesheets_updated, vec![pid.clone()]);
    assert_eq!(w.patient_row(&pid).await.email.as_deref(), Some("new@example.org"));
    let after = w.session(&s.token).await.unwrap();
    assert_eq!(after.principal.email.as_str(), "new@example.org");
    assert!(events(w.db()).await.contains(&DomainEvent::PortalEmailChanged {
        account_id: done.account_id.clone(),
        patient_id: Some(pid.clone()),
        relation: Some(Relation::Myself),
    }));
    let rows = w.audit(AuditAction::PortalEmailChanged).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].patient_id.as_deref(), Some(pid.as_str()));
    assert_eq!(detail(&rows[0])["facesheet_updated"], true);
    match confirm_email_change(w.db(), &token, None).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Used }) => {}
        other => panic!("{other:?}"),
    }
    // Recognised by the new address from now on.
    let reset = portal_auth::registration::ForgotPasswordInput::Account {
        username: "ann".into(),
        email: "new@example.org".into(),
    };
    portal_auth::registration::request_password_reset(w.db(), &reset, None).await.unwrap();
    assert_eq!(w.last_link_to("new@example.org").await.0, LinkPurpose::Reset);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guardians_email_change_leaves_the_childs_facesheet_alone() {
    let w = World::new().await;
    let kid = w.enabled_patient("Amy", "Lee", "family@example.org").await;
    let mom = w.contact(&kid, "guardian", "Mom", Some("mom@example.org")).await;
    w.invite(&kid, InviteTo::Contact { contact_id: mom }).await.unwrap();
    let (_, t) = w.last_link_to("mom@example.org").await;
    let done = w.accept(&t, Some("mom"), PASSWORD).await.unwrap();
    let s = w.sign_in("mom", PASSWORD).await.unwrap();
    let session = w.session(&s.token).await.unwrap();
    request_email_change(w.db(), &w.hasher, &session, PASSWORD, "mom2@example.org", None).await.unwrap();
    let (_, token) = w.last_link_to("mom2@example.org").await;
    let changed = confirm_email_change(w.db(), &token, None).await.unwrap();
    assert!(changed.facesheets_updated.is_empty());
    assert_eq!(w.patient_row(&kid).await.email.as_deref(), Some("family@example.org"));
    assert!(events(w.db()).await.contains(&DomainEvent::PortalEmailChanged {
        account_id: done.account_id,
        patient_id: Some(kid.clone()),
        relation: Some(Relation::Guardian),
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn email_change_links_expire_and_refuse_other_purposes() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann").await;
    let s = w.sign_in("ann", PASSWORD).await.unwrap();
    let session = w.session(&s.token).await.unwrap();
    request_email_change(w.db(), &w.hasher, &session, PASSWORD, "new@example.org", None).await.unwrap();
    let (_, token) = w.last_link_to("new@example.org").await;
    // An e-mail confirmation is not a password link, and the reverse.
    assert!(matches!(
        w.accept(&token, None, NEW_PASSWORD).await,
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Unknown })
    ));
    expire(&w, &token).await;
    match confirm_email_change(w.db(), &token, None).await {
        Err(PortalError::LinkNotUsable { problem: LinkProblem::Expired }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(w.session(&s.token).await.unwrap().principal.email.as_str(), "ann@example.org");
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_list_update_and_revoke_grants() {
    let w = World::new().await;
    let kid = w.enabled_patient("Amy", "Lee", "family@example.org").await;
    let mom = w.contact(&kid, "guardian", "Mom", Some("mom@example.org")).await;
    w.invite(&kid, InviteTo::Contact { contact_id: mom.clone() }).await.unwrap();
    w.invite(&kid, InviteTo::Patient).await.unwrap();
    let users = portal_grants::portal_users(w.db(), &w.desk, &kid).await.unwrap();
    assert_eq!(users.len(), 2);
    let guardian = users.iter().find(|u| u.relation == Relation::Guardian).unwrap();
    assert_eq!(guardian.contact_id.as_deref(), Some(mom.as_str()));
    assert!(guardian.in_force && !guardian.registered);
    assert_eq!(guardian.scopes.as_slice().len(), 5);
    let viewed = w.audit(AuditAction::PatientViewed).await;
    assert_eq!(detail(viewed.last().unwrap())["part"], "portal_users");

    let change = GrantChange { scopes: Some(vec!["appointments".into()]), ends_on: Some("2999-01-01".into()) };
    let updated = portal_grants::update_grant(w.db(), &w.desk, &kid, &guardian.grant_id, change).await.unwrap();
    assert!(updated.scopes.covers(GrantScope::Appointments) && !updated.scopes.covers(GrantScope::Messages));
    assert_eq!(updated.ends_on, Some(time::macros::date!(2999 - 01 - 01)));
    assert_eq!(w.audit(AuditAction::PortalGrantUpdated).await.len(), 1);
    let bad = GrantChange { scopes: Some(vec![]), ends_on: Some("yesterday".into()) };
    let mut f = invalid_fields(portal_grants::update_grant(w.db(), &w.desk, &kid, &guardian.grant_id, bad).await);
    f.sort();
    assert_eq!(f, ["ends_on", "scopes"]);
    let clear = GrantChange { scopes: None, ends_on: Some(String::new()) };
    let cleared = portal_grants::update_grant(w.db(), &w.desk, &kid, &guardian.grant_id, clear).await.unwrap();
    assert_eq!(cleared.ends_on, None);

    portal_grants::revoke_grant(w.db(), &w.desk, &kid, &guardian.grant_id).await.unwrap();
    // Revoking again changes nothing and records nothing.
    portal_grants::revoke_grant(w.db(), &w.desk, &kid, &guardian.grant_id).await.unwrap();
    assert_eq!(w.audit(AuditAction::PortalGrantRevoked).await.len(), 1);
    let users = portal_grants::portal_users(w.db(), &w.desk, &kid).await.unwrap();
    let g = users.iter().find(|u| u.grant_id == guardian.grant_id).unwrap();
    assert!(!g.in_force && g.revoked_at.is_some(), "kept for the history");
    // The revoked grant's pending invitation no longer works.
    let (_, t) = w.last_link_to("mom@example.org").await;
    assert!(matches!(w.accept(&t, Some("mom"), PASSWORD).await, Err(PortalError::LinkNotUsable { .. })));
    let r = portal_grants::update_grant(w.db(), &w.desk, &kid, &guardian.grant_id, GrantChange::default()).await;
    assert_access(r, AccessError::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_control_is_refused_from_every_side() {
    let w = World::new().await;
    let kid = w.enabled_patient("Amy", "Lee", "family@example.org").await;
    let other = w.enabled_patient("Bob", "Ray", "bob@example.org").await;
    w.invite(&kid, InviteTo::Patient).await.unwrap();
    let gid = portal_grants::portal_users(w.db(), &w.desk, &kid).await.unwrap()[0].grant_id.clone();
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    assert!(portal_grants::portal_users(w.db(), &billing, &kid).await.is_ok(), "viewing needs View Patients");
    assert_access(
        portal_grants::revoke_grant(w.db(), &billing, &kid, &gid).await,
        AccessError::Forbidden { needs: "Edit Patients" },
    );
    let far = staff(StaffRole::FrontDesk, &[&w.other_loc]);
    assert_access(portal_grants::portal_users(w.db(), &far, &kid).await, AccessError::NotFound);
    assert_access(portal_grants::revoke_grant(w.db(), &far, &kid, &gid).await, AccessError::NotFound);
    // A grant named under another patient answers like a missing one.
    assert_access(portal_grants::revoke_grant(w.db(), &w.desk, &other, &gid).await, AccessError::NotFound);
    assert_access(
        portal_grants::accounts_by_email(w.db(), &billing, "family@example.org").await,
        AccessError::Forbidden { needs: "Edit Patients" },
    );
    assert_eq!(invalid_fields(portal_grants::accounts_by_email(w.db(), &w.desk, "nope").await), ["email"]);
    assert!(w.audit(AuditAction::PortalGrantRevoked).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn username_availability_for_the_desk() {
    let w = World::new().await;
    w.registered_patient("Ann", "ann@example.org", "ann.lee").await;
    assert!(!portal_grants::username_available(w.db(), &w.desk, "Ann.Lee").await.unwrap());
    assert!(portal_grants::username_available(w.db(), &w.desk, "ann.lee2").await.unwrap());
    assert_eq!(invalid_fields(portal_grants::username_available(w.db(), &w.desk, "a b").await), ["username"]);
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    assert_access(
        portal_grants::username_available(w.db(), &billing, "x.y.z").await,
        AccessError::Forbidden { needs: "Edit Patients" },
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_patients_own_username_for_the_portal_tab() {
    let w = World::new().await;
    let (ann, _) = w.registered_patient("Ann", "ann@example.org", "ann.lee").await;
    assert_eq!(portal_grants::own_username(w.db(), &w.desk, &ann).await.unwrap().as_deref(), Some("ann.lee"));
    // Invited but not registered: an account without a username yet.
    let bo = w.enabled_patient("Bo", "Lee", "bo@example.org").await;
    assert_eq!(portal_grants::own_username(w.db(), &w.desk, &bo).await.unwrap(), None);
    w.invite(&bo, InviteTo::Patient).await.expect("invite");
    assert_eq!(portal_grants::own_username(w.db(), &w.desk, &bo).await.unwrap(), None);
    // A guardian's account is not the patient's own.
    let guardian = w.contact(&bo, "guardian", "Gil", Some("gil@example.org")).await;
    w.invite(&bo, InviteTo::Contact { contact_id: guardian }).await.expect("invite guardian");
    let token = w.last_link_to("gil@example.org").await.1;
    w.accept(&token, Some("gil.parent"), PASSWORD).await.expect("accept");
    assert_eq!(portal_grants::own_username(w.db(), &w.desk, &bo).await.unwrap(), None);
    // Scoped like the status: another location's patient is not found; View Patients suffices.
    let elsewhere = staff(StaffRole::FrontDesk, &[&w.other_loc]);
    assert_access(portal_grants::own_username(w.db(), &elsewhere, &ann).await, AccessError::NotFound);
    assert_access(portal_grants::own_username(w.db(), &w.desk, "not-an-id").await, AccessError::NotFound);
    let billing = staff(StaffRole::Billing, &[&w.loc]);
    assert_eq!(portal_grants::own_username(w.db(), &billing, &ann).await.unwrap().as_deref(), Some("ann.lee"));
}
