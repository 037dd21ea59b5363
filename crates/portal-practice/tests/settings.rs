//! Instance settings (seed 000): only Manage Portal Settings opens them, turning the portal on
//! needs the fee acknowledged, and every change is kept in the history and the audit log.

mod common;

use common::{StaffBuilder, actor, assert_access, audit_of, detail, forbidden, location, staff_id, test_db};
use portal_core::audit::AuditAction;
use portal_core::staff::StaffRole;
use portal_practice::PracticeError;
use portal_practice::settings::{self, USE_PORTAL};
use portal_store::Db;

async fn history_len(db: &Db) -> usize {
    let mut conn = db.read().await.unwrap();
    portal_store::org::setting_history(&mut conn, USE_PORTAL).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_manage_portal_settings_opens_the_settings() {
    let t = test_db().await;
    let loc = location(&t.db, "Main").await;
    let needs = forbidden("Manage Portal Settings");

    // A Super Admin holds every EMR permission but not this one (seed 000).
    let plain_admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).insert(&t.db).await);
    assert_access(settings::instance_settings(&t.db, &plain_admin).await, needs.clone());
    assert_access(settings::set_use_portal(&t.db, &plain_admin, true, true).await, needs.clone());
    for role in [StaffRole::PracticeManager, StaffRole::Clinician, StaffRole::FrontDesk, StaffRole::Billing] {
        let a = actor(StaffBuilder::new(role).at(&[&loc]).insert(&t.db).await);
        assert_access(settings::instance_settings(&t.db, &a).await, needs.clone());
        assert_access(settings::set_use_portal(&t.db, &a, true, true).await, needs.clone());
        assert_access(settings::set_use_portal(&t.db, &a, false, false).await, needs.clone());
    }
    assert!(!settings::portal_enabled(&t.db).await.unwrap(), "no refused call may turn the portal on");
    assert_eq!(history_len(&t.db).await, 0);
    assert!(audit_of(&t.db, AuditAction::SettingChanged).await.is_empty());

    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    let s = settings::instance_settings(&t.db, &admin).await.unwrap();
    assert!(!s.use_portal);
    assert_eq!(s.fee.locations, 1);
    assert_eq!(s.fee.per_location_cents, 20_000);
    assert_eq!(s.fee.monthly_total_cents, 20_000);
    assert!(s.history.is_empty());
    let s = settings::set_use_portal(&t.db, &admin, true, true).await.unwrap();
    assert!(s.use_portal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_on_needs_the_fee_acknowledged_and_is_recorded() {
    let t = test_db().await;
    for name in ["Main", "Annex", "North"] {
        location(&t.db, name).await;
    }
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).name("Ada Admin").portal_settings().insert(&t.db).await);

    // Without the acknowledgement: refused, with the fee in the reason, and nothing recorded.
    match settings::set_use_portal(&t.db, &admin, true, false).await {
        Err(PracticeError::Refused(why)) => {
            assert!(why.contains("$600.00"), "{why}");
            assert!(why.contains('3'), "{why}");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert!(!settings::portal_enabled(&t.db).await.unwrap());
    assert_eq!(history_len(&t.db).await, 0);
    assert!(audit_of(&t.db, AuditAction::SettingChanged).await.is_empty());

    // With it: on, one history row and one audit row.
    let s = settings::set_use_portal(&t.db, &admin, true, true).await.unwrap();
    assert!(s.use_portal);
    assert!(settings::portal_enabled(&t.db).await.unwrap());
    assert_eq!(s.history.len(), 1);
    let h = &s.history[0];
    assert_eq!(h.setting, "use_portal");
    assert_eq!(h.old_value, "false");
    assert_eq!(h.new_value, "true");
    assert_eq!(h.fee_locations, Some(3));
    assert_eq!(h.fee_total_cents, Some(3 * 20_000));
    assert!(h.acknowledged);
    assert_eq!(h.changed_by.as_deref(), Some(staff_id(&admin).as_str()));
    assert_eq!(h.changed_by_name, "Ada Admin");
    assert_eq!(h.ip.as_deref(), Some("127.0.0.1"));

    let audit = audit_of(&t.db, AuditAction::SettingChanged).await;
    assert_eq!(audit.len(), 1);
    let a = &audit[0];
    assert_eq!(a.actor_id.as_deref(), Some(staff_id(&admin).as_str()));
    assert_eq!(a.actor_kind, "staff");
    assert_eq!(a.target_kind.as_deref(), Some("setting"));
    assert_eq!(a.target_id.as_deref(), Some("use_portal"));
    assert_eq!(a.ip.as_deref(), Some("127.0.0.1"));
    let d = detail(a);
    assert_eq!(d["from"], false);
    assert_eq!(d["to"], true);
    assert_eq!(d["fee_acknowledged"], true);
    assert_eq!(d["fee_total_cents"], 60_000);

    // The same value again records nothing (with or without the acknowledgement).
    settings::set_use_portal(&t.db, &admin, true, true).await.unwrap();
    settings::set_use_portal(&t.db, &admin, true, false).await.unwrap();
    assert_eq!(history_len(&t.db).await, 1);
    assert_eq!(audit_of(&t.db, AuditAction::SettingChanged).await.len(), 1);

    // Turning off needs no acknowledgement and is recorded too.
    let s = settings::set_use_portal(&t.db, &admin, false, false).await.unwrap();
    assert!(!s.use_portal);
    assert_eq!(s.history.len(), 2);
    let off = &s.history[0];
    assert_eq!((off.old_value.as_str(), off.new_value.as_str()), ("true", "false"), "newest first");
    assert_eq!(off.fee_locations, None);
    assert_eq!(off.fee_total_cents, None);
    assert!(!off.acknowledged);
    assert_eq!(off.changed_by.as_deref(), Some(staff_id(&admin).as_str()));
    let audit = audit_of(&t.db, AuditAction::SettingChanged).await;
    assert_eq!(audit.len(), 2);
    assert_eq!(detail(&audit[1])["to"], false);

    settings::set_use_portal(&t.db, &admin, false, false).await.unwrap();
    assert_eq!(history_len(&t.db).await, 2);
    assert_eq!(audit_of(&t.db, AuditAction::SettingChanged).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_cannot_be_turned_on_without_a_location() {
    let t = test_db().await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    assert_eq!(settings::instance_settings(&t.db, &admin).await.unwrap().fee.monthly_total_cents, 0);
    for ack in [true, false] {
        match settings::set_use_portal(&t.db, &admin, true, ack).await {
            Err(PracticeError::Refused(why)) => assert!(why.contains("location"), "{why}"),
            other => panic!("expected Refused, got {other:?}"),
        }
    }
    assert!(!settings::portal_enabled(&t.db).await.unwrap());
    assert_eq!(history_len(&t.db).await, 0);
    assert!(audit_of(&t.db, AuditAction::SettingChanged).await.is_empty());

    // The fee follows the location count.
    location(&t.db, "Main").await;
    location(&t.db, "Annex").await;
    let s = settings::instance_settings(&t.db, &admin).await.unwrap();
    assert_eq!((s.fee.locations, s.fee.monthly_total_cents), (2, 40_000));
    assert!(settings::set_use_portal(&t.db, &admin, true, true).await.unwrap().use_portal);
}

/// Concurrent identical requests record one change: the organisation row is locked for the
/// read-modify-write on PostgreSQL, and SQLite's immediate transactions serialise them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_changes_record_one_history_row() {
    let t = test_db().await;
    location(&t.db, "Main").await;
    let admin = actor(StaffBuilder::new(StaffRole::SuperAdmin).portal_settings().insert(&t.db).await);
    for round in 0..5 {
        let on = round % 2 == 0;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (db, a) = (t.db.clone(), admin.clone());
                tokio::spawn(async move { settings::set_use_portal(&db, &a, on, true).await.map(|_| ()) })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
    let s = settings::instance_settings(&t.db, &admin).await.unwrap();
    assert_eq!(s.history.len(), 5, "one row per real change");
}
