//! A patient's portal access on the clinic's side (seed 002): the access level and its rule, the
//! status and troubleshooting hint of the facesheet header, and the auto-enable setting.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::audit::AuditAction;
use portal_core::portal_access::{NotEnabledReason, PortalAccessLevel, PortalAccessStatus};
use portal_core::staff::StaffRole;
use portal_practice::PracticeError;
use portal_practice::portal_access::{
    AUTO_ENABLE_PORTAL, apply_auto_enable, auto_enable_settings, portal_status, portal_statuses, set_access_level,
    set_auto_enable,
};
use portal_store::Db;

async fn patient(db: &Db, a: &portal_core::Actor, loc: &str, email: Option<&str>, zip: Option<&str>) -> String {
    let mut input = patient_input("Ann", "Lee", loc);
    input.email = email.map(str::to_owned);
    input.zip = zip.map(str::to_owned);
    create_patient(db, a, input).await.id
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_needs_an_email_and_a_zip_code_and_says_which_is_missing() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&loc]).await;
    let none = patient(&t.db, &desk, &loc, None, None).await;
    let no_zip = patient(&t.db, &desk, &loc, Some("ann@example.org"), None).await;
    let no_mail = patient(&t.db, &desk, &loc, None, Some("02139")).await;
    for (id, missing) in
        [(&none, "e-mail address and home ZIP code"), (&no_zip, "ZIP code"), (&no_mail, "e-mail address")]
    {
        match set_access_level(&t.db, &desk, id, PortalAccessLevel::CanAccess).await {
            Err(PracticeError::Refused(why)) => assert!(why.contains(missing), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    let s = portal_status(&t.db, &desk, &none).await.unwrap();
    assert_eq!(s.status.colour, "red");
    assert_eq!(
        s.status.reasons,
        vec![NotEnabledReason::AccessNotEnabled, NotEnabledReason::NoEmail, NotEnabledReason::NoZip]
    );
    assert!(s.status.hint.contains("Patient Can Access Portal"));
    assert!(audit_of(&t.db, AuditAction::PortalAccessChanged).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_turns_the_status_gray_and_is_audited_once() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&loc]).await;
    let id = patient(&t.db, &desk, &loc, Some("ann@example.org"), Some("02139")).await;
    assert_eq!(portal_status(&t.db, &desk, &id).await.unwrap().status.status, PortalAccessStatus::NotEnabled);
    let s = set_access_level(&t.db, &desk, &id, PortalAccessLevel::CanAccess).await.unwrap();
    assert_eq!(s.access_level, PortalAccessLevel::CanAccess);
    assert_eq!(s.status.colour, "gray");
    assert!(s.status.hint.contains("I am a registered patient"));
    assert!(s.email_privacy_warning.contains("only he or she has access"));
    // The same level again records nothing.
    set_access_level(&t.db, &desk, &id, PortalAccessLevel::CanAccess).await.unwrap();
    let rows = audit_of(&t.db, AuditAction::PortalAccessChanged).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].patient_id.as_deref(), Some(id.as_str()));
    assert_eq!(detail(&rows[0])["to"], "can_access");
    let s = set_access_level(&t.db, &desk, &id, PortalAccessLevel::NoAccess).await.unwrap();
    assert_eq!(s.status.colour, "red");
    assert_eq!(audit_of(&t.db, AuditAction::PortalAccessChanged).await.len(), 2);
    // Removing the e-mail of an enabled patient makes the status red again.
    set_access_level(&t.db, &desk, &id, PortalAccessLevel::CanAccess).await.unwrap();
    let mut input = patient_input("Ann", "Lee", &loc);
    input.zip = Some("02139".into());
    portal_practice::patients::update(&t.db, &desk, &id, input).await.unwrap();
    let s = portal_status(&t.db, &desk, &id).await.unwrap();
    assert_eq!((s.access_level, s.status.colour), (PortalAccessLevel::CanAccess, "red"));
    assert_eq!(s.status.reasons, vec![NotEnabledReason::NoEmail]);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_levels_are_refused_without_permission_or_location() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let other = location(&t.db, "Other").await;
    let desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&loc]).await;
    let id = patient(&t.db, &desk, &loc, Some("ann@example.org"), Some("02139")).await;
    let billing = staff_actor(&t.db, StaffRole::Billing, &[&loc]).await;
    assert!(portal_status(&t.db, &billing, &id).await.is_ok(), "viewing needs View Patients only");
    assert_access(
        set_access_level(&t.db, &billing, &id, PortalAccessLevel::CanAccess).await,
        forbidden("Edit Patients"),
    );
    let far = staff_actor(&t.db, StaffRole::FrontDesk, &[&other]).await;
    assert_access(portal_status(&t.db, &far, &id).await, AccessError::NotFound);
    assert_access(set_access_level(&t.db, &far, &id, PortalAccessLevel::CanAccess).await, AccessError::NotFound);
    assert_access(portal_status(&t.db, &desk, "../1").await, AccessError::NotFound);
    assert!(audit_of(&t.db, AuditAction::PortalAccessChanged).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_enable_is_an_instance_setting_a_location_can_override() {
    let t = test_db().await;
    let main = location(&t.db, "Main").await;
    let hill = location(&t.db, "Hill").await;
    let admin =
        actor(StaffBuilder::new(StaffRole::SuperAdmin).at(&[&main, &hill]).portal_settings().insert(&t.db).await);
    let plain_admin = staff_actor(&t.db, StaffRole::SuperAdmin, &[&main]).await;
    assert_access(auto_enable_settings(&t.db, &plain_admin).await, forbidden("Manage Portal Settings"));
    assert_access(set_auto_enable(&t.db, &plain_admin, None, Some(true)).await, forbidden("Manage Portal Settings"));

    let s = auto_enable_settings(&t.db, &admin).await.unwrap();
    assert!(!s.instance);
    assert!(s.locations.iter().all(|l| l.override_value.is_none() && !l.effective));
    let s = set_auto_enable(&t.db, &admin, None, Some(true)).await.unwrap();
    assert!(s.instance && s.locations.iter().all(|l| l.effective));
    let s = set_auto_enable(&t.db, &admin, Some(&hill), Some(false)).await.unwrap();
    let h = s.locations.iter().find(|l| l.location_id == hill).unwrap();
    assert_eq!((h.override_value, h.effective), (Some(false), false));
    assert!(s.locations.iter().find(|l| l.location_id == main).unwrap().effective);
    assert_eq!(s.history.len(), 2);
    assert!(s.history.iter().all(|c| c.setting == AUTO_ENABLE_PORTAL));
    // The same value again records nothing; removing the override follows the instance.
    set_auto_enable(&t.db, &admin, Some(&hill), Some(false)).await.unwrap();
    let s = set_auto_enable(&t.db, &admin, Some(&hill), None).await.unwrap();
    assert!(s.locations.iter().all(|l| l.effective));
    assert_eq!(s.history.len(), 3);
    assert_eq!(audit_of(&t.db, AuditAction::SettingChanged).await.len(), 3);
    assert_access(set_auto_enable(&t.db, &admin, Some("nope"), Some(true)).await, AccessError::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn patients_added_by_staff_are_enabled_where_auto_enable_applies() {
    let t = test_db().await;
    let main = location(&t.db, "Main").await;
    let hill = location(&t.db, "Hill").await;
    let admin =
        actor(StaffBuilder::new(StaffRole::SuperAdmin).at(&[&main, &hill]).portal_settings().insert(&t.db).await);
    set_auto_enable(&t.db, &admin, None, Some(true)).await.unwrap();
    set_auto_enable(&t.db, &admin, Some(&hill), Some(false)).await.unwrap();
    let at_main = patient(&t.db, &admin, &main, Some("a@example.org"), Some("02139")).await;
    let no_zip = patient(&t.db, &admin, &main, Some("b@example.org"), None).await;
    let at_hill = patient(&t.db, &admin, &hill, Some("c@example.org"), Some("02139")).await;
    let mut enabled = Vec::new();
    for id in [&at_main, &no_zip, &at_hill] {
        let (a, id2) = (admin.clone(), id.clone());
        let on = t.db.write(move |tx| Box::pin(async move { apply_auto_enable(tx, &a, &id2).await })).await.unwrap();
        enabled.push(on);
    }
    // `patients::create` already applied the hook in its own transaction: nothing is left to do.
    assert_eq!(enabled, [false, false, false]);
    assert_eq!(portal_status(&t.db, &admin, &at_hill).await.unwrap().access_level, PortalAccessLevel::NoAccess);
    assert_eq!(portal_status(&t.db, &admin, &at_main).await.unwrap().status.colour, "gray");
    assert_eq!(portal_status(&t.db, &admin, &no_zip).await.unwrap().access_level, PortalAccessLevel::NoAccess);
    let rows = audit_of(&t.db, AuditAction::PortalAccessChanged).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(detail(&rows[0])["auto_enabled"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn statuses_of_a_list_leave_out_what_the_actor_cannot_see() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let other = location(&t.db, "Other").await;
    let desk = staff_actor(&t.db, StaffRole::FrontDesk, &[&loc]).await;
    let admin = staff_actor(&t.db, StaffRole::SuperAdmin, &[&loc]).await;
    let red = patient(&t.db, &desk, &loc, Some("ann@example.org"), None).await;
    let gray = patient(&t.db, &desk, &loc, Some("ann@example.org"), Some("02139")).await;
    set_access_level(&t.db, &desk, &gray, PortalAccessLevel::CanAccess).await.unwrap();
    let far = patient(&t.db, &admin, &other, Some("bo@example.org"), Some("02139")).await;
    let ids = vec![red.clone(), gray.clone(), far.clone(), "../1".to_owned()];
    let s = portal_statuses(&t.db, &desk, &ids).await.unwrap();
    assert_eq!(s.len(), 2, "the other location's patient and the malformed id are left out");
    assert_eq!(s[&red].colour, "red");
    assert_eq!(s[&red].reasons, vec![NotEnabledReason::AccessNotEnabled, NotEnabledReason::NoZip]);
    assert_eq!(s[&gray].colour, "gray");
    assert_eq!(portal_statuses(&t.db, &admin, &ids).await.unwrap().len(), 3);
    let billing_far = staff_actor(&t.db, StaffRole::Billing, &[&other]).await;
    let s = portal_statuses(&t.db, &billing_far, &ids).await.unwrap();
    assert_eq!(s.keys().collect::<Vec<_>>(), vec![&far], "View Patients of the other location: its patient only");
}
