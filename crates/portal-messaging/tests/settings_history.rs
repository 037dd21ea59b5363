//! The history of the "portal users may write to" setting, as Settings > Instance shows it:
//! only for those who may change the setting (Manage Portal Settings), newest first.

mod common;

use common::*;
use portal_core::AccessError;
use portal_core::staff::StaffRole;
use portal_messaging::{MessagingError, settings};

#[tokio::test(flavor = "multi_thread")]
async fn the_history_is_read_with_manage_portal_settings_only() {
    let s = scene().await;
    let db = &s.t.db;
    let sa = staff_member(db, "Root", StaffRole::SuperAdmin, &[], false).await;
    for who in [&sa, &s.clinician] {
        let r = settings::portal_messaging_recipients_history(db, who).await;
        assert!(matches!(r, Err(MessagingError::Access(AccessError::Forbidden { .. }))), "{r:?}");
    }
    let mut p = staff_of(&sa).clone();
    p.portal.manage_portal_settings = true;
    let admin = portal_core::Actor::new(portal_core::Principal::Staff(p), None);
    assert!(settings::portal_messaging_recipients_history(db, &admin).await.unwrap().is_empty());
    settings::set_portal_messaging_recipients(db, &admin, "care_team").await.unwrap();
    settings::set_portal_messaging_recipients(db, &admin, "available_for_portal_messages").await.unwrap();
    let history = settings::portal_messaging_recipients_history(db, &admin).await.unwrap();
    let changes: Vec<_> = history.iter().map(|h| (h.old_value.as_str(), h.new_value.as_str())).collect();
    assert_eq!(changes.len(), 2);
    assert!(changes.contains(&("available_for_portal_messages", "care_team")));
    assert!(changes.contains(&("care_team", "available_for_portal_messages")));
    assert!(history[0].changed_at >= history[1].changed_at, "newest first");
    assert!(history.iter().all(|h| h.changed_by_name == "Root"));
    // The command line's system principal reads it too.
    assert_eq!(
        settings::portal_messaging_recipients_history(db, &portal_core::Actor::system()).await.unwrap().len(),
        2
    );
}
