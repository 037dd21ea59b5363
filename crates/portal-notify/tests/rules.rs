//! Setting up notification rules (seed 000): only a Super Admin may; bad rules are refused field
//! by field; a test notification reaches the current user alone; each person reads and marks only
//! their own notifications.

use portal_core::AccessError;
use portal_core::notifications::RawRule;
use portal_core::staff::StaffRole;
use portal_notify::rules::{self, RulesError};
use portal_store::testing::fixtures::*;

fn raw(location: &str) -> RawRule {
    RawRule {
        location_id: location.to_owned(),
        event: "registration_completed".into(),
        name: "New registrations".into(),
        starts_on: "2026-01-01".into(),
        ends_on: None,
        severity: "critical".into(),
        recipient_users: vec![],
        recipient_care_team: true,
        recipient_roles: vec!["front_desk".into()],
        title: "{patient_name} registered".into(),
        message: "At {location}.".into(),
        toast: true,
        email: true,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_a_super_admin_sets_up_rules_and_bad_ones_are_refused() {
    let t = clinic().await;
    let db = &t.db;
    let main = location(db, "Main").await;
    let root = staff_member(db, "Root Admin", StaffRole::SuperAdmin, &[], false).await;
    let manager = staff_member(db, "Max Manager", StaffRole::PracticeManager, &[&main], false).await;
    // Refused side: a practice manager (Manage Users and all) may not.
    for r in
        [rules::create(db, &manager, raw(&main)).await.map(|_| ()), rules::list(db, &manager, None).await.map(|_| ())]
    {
        assert!(matches!(r, Err(RulesError::Access(AccessError::SuperAdminOnly { .. }))), "{r:?}");
    }
    let mut bad = raw("no-such-location");
    bad.recipient_users = vec![portal_store::ids::new_id()];
    bad.recipient_roles = vec![];
    bad.recipient_care_team = false;
    match rules::create(db, &root, bad).await {
        Err(RulesError::Invalid(e)) => {
            assert!(e.get("location_id").is_some() && e.get("recipient_users").is_some(), "{e:?}");
        }
        other => panic!("expected field errors, got {other:?}"),
    }
    let rule = rules::create(db, &root, raw(&main)).await.unwrap();
    assert_eq!((rule.location_name.as_str(), rule.colour), ("Main", "red"));
    let mut changed = raw(&main);
    changed.severity = "information".into();
    assert_eq!(rules::update(db, &root, &rule.id, changed).await.unwrap().colour, "blue");
    assert_eq!(rules::list(db, &root, Some(&main)).await.unwrap().len(), 1);
    rules::delete(db, &root, &rule.id).await.unwrap();
    assert!(rules::list(db, &root, Some(&main)).await.unwrap().is_empty());
    assert!(matches!(rules::get(db, &root, &rule.id).await, Err(RulesError::Access(AccessError::NotFound))));
    assert_eq!(audit_rows(db, "notification_rule_created").await.len(), 1);
    assert_eq!(audit_rows(db, "notification_rule_deleted").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_notification_reaches_the_current_user_alone() {
    let t = clinic().await;
    let db = &t.db;
    let main = location(db, "Main").await;
    let root = staff_member(db, "Root Admin", StaffRole::SuperAdmin, &[], false).await;
    let desk = staff_member(db, "Fran Desk", StaffRole::FrontDesk, &[&main], false).await;
    let rule = rules::create(db, &root, raw(&main)).await.unwrap();
    let sent = rules::send_test(db, &root, &rule.id).await.unwrap();
    assert_eq!(sent.title, "Test: Test Patient registered");
    assert_eq!(sent.body, "At Main.");
    assert_eq!(rules::unread_count(db, &root).await.unwrap(), 1);
    assert_eq!(rules::unread_count(db, &desk).await.unwrap(), 0, "the rule's recipients get no test");
    assert_eq!(events(db, "staff_notification_email").await.len(), 1, "the rule e-mails, so the test does");
    // Refused side: another person's notification is not theirs to mark.
    assert!(matches!(
        rules::mark_read(db, &desk, Some(&sent.id)).await,
        Err(RulesError::Access(AccessError::NotFound))
    ));
    assert_eq!(rules::mark_read(db, &root, Some(&sent.id)).await.unwrap(), 1);
    assert_eq!(rules::unread_count(db, &root).await.unwrap(), 0);
    assert_eq!(rules::mine(db, &root, None, 25).await.unwrap().len(), 1);
    assert!(rules::mine(db, &desk, None, 25).await.unwrap().is_empty());
}
