//! Managing staff accounts (seed 000 "Assign Portal Roles"): who may create and change whom,
//! which permission needs a Super Admin, and which changes end the target's sessions.

mod common;

use common::{PASSWORD, World, actor, assert_access, assert_bad_credentials, detail, invalid_fields, staff_id};
use portal_auth::AuthError;
use portal_auth::staff::{self, StaffInput, create_super_admin, set_portal_permission};
use portal_core::audit::AuditAction;
use portal_core::staff::{PortalPermission, StaffRole};
use portal_core::{AccessError, Actor};

fn input(name: &str, email: &str, role: StaffRole, locations: &[&String]) -> StaffInput {
    StaffInput {
        name: name.into(),
        email: email.into(),
        role: role.as_str().into(),
        location_ids: locations.iter().map(|l| (*l).clone()).collect(),
        active: true,
        password: Some(PASSWORD.into()),
    }
}

async fn staff_count(w: &World) -> i64 {
    let mut conn = w.db().read().await.unwrap();
    portal_store::staff::count(&mut conn).await.unwrap()
}

fn manage_users() -> AccessError {
    AccessError::Forbidden { needs: "Manage Users" }
}

fn super_admin_only() -> AccessError {
    AccessError::SuperAdminOnly { action: "create, change or remove a Super Admin" }
}

/// The Manage Users page: a Super Admin, a Practice Manager and the front desk, all at Main.
struct Office {
    w: World,
    main: String,
    annex: String,
    admin: Actor,
    manager: Actor,
    front_desk: Actor,
}

async fn office() -> Office {
    let w = World::new().await;
    let main = w.location("Main").await;
    let annex = w.location("Annex").await;
    let admin = w.staff_actor(StaffRole::SuperAdmin, "admin@example.org", &[]).await;
    let manager = w.staff_actor(StaffRole::PracticeManager, "manager@example.org", &[&main, &annex]).await;
    let front_desk = w.staff_actor(StaffRole::FrontDesk, "desk@example.org", &[&main]).await;
    Office { w, main, annex, admin, manager, front_desk }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_staff_needs_manage_users_and_a_super_admin_for_a_super_admin() {
    let o = office().await;
    let w = &o.w;
    let before = staff_count(w).await;
    let clinician = w.staff_actor(StaffRole::Clinician, "doc@example.org", &[&o.main]).await;
    let billing = w.staff_actor(StaffRole::Billing, "bill@example.org", &[&o.main]).await;
    for who in [&o.front_desk, &clinician, &billing] {
        let r = staff::create(w.db(), &w.hasher, who, input("New Hire", "new@example.org", StaffRole::FrontDesk, &[]))
            .await;
        assert_access(r, manage_users());
        assert_access(staff::list(w.db(), who).await, manage_users());
        assert_access(staff::get(w.db(), who, &staff_id(&o.admin)).await, manage_users());
    }
    let r = staff::create(w.db(), &w.hasher, &o.manager, input("Boss", "boss@example.org", StaffRole::SuperAdmin, &[]))
        .await;
    assert_access(r, super_admin_only());
    assert_eq!(staff_count(w).await, before + 2);
    assert!(w.audit(AuditAction::StaffCreated).await.iter().all(|r| r.actor_kind == "system"));

    let made = staff::create(
        w.db(),
        &w.hasher,
        &o.manager,
        input("New Hire", " New@Example.org ", StaffRole::FrontDesk, &[&o.main, &o.main, &o.annex]),
    )
    .await
    .unwrap();
    assert_eq!(made.row.email, "new@example.org");
    assert_eq!(made.row.role, "front_desk");
    assert!(made.row.active);
    let mut expected = vec![o.main.clone(), o.annex.clone()];
    expected.sort();
    assert_eq!(made.location_ids, expected, "duplicates dropped");
    assert!(made.portal_permissions.is_empty());
    assert!(made.row.password_hash.starts_with("$argon2id$"));
    w.sign_in("new@example.org", PASSWORD).await.unwrap();

    let boss =
        staff::create(w.db(), &w.hasher, &o.admin, input("Boss", "boss@example.org", StaffRole::SuperAdmin, &[]))
            .await
            .unwrap();
    assert_eq!(boss.row.role, "super_admin");
    assert!(!boss.row.perm_manage_portal_settings, "no role implies Manage Portal Settings");

    let rows = w.audit(AuditAction::StaffCreated).await;
    let by_manager = rows.iter().find(|r| r.target_id.as_deref() == Some(made.row.id.as_str())).unwrap();
    assert_eq!(by_manager.actor_id.as_deref(), Some(staff_id(&o.manager).as_str()));
    assert_eq!(detail(by_manager)["role"], "front_desk");
    assert!(!by_manager.detail.contains(PASSWORD));

    let listed = staff::list(w.db(), &o.manager).await.unwrap();
    assert_eq!(listed.len() as i64, staff_count(w).await);
    let got = staff::get(w.db(), &o.manager, &made.row.id).await.unwrap();
    assert_eq!(got.location_ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_input_is_checked() {
    let o = office().await;
    let w = &o.w;
    let before = staff_count(w).await;
    let bad = StaffInput {
        name: " ".into(),
        email: "not-an-email".into(),
        role: "root".into(),
        location_ids: vec![portal_store::ids::new_id()],
        active: true,
        password: Some("short".into()),
    };
    let r = staff::create(w.db(), &w.hasher, &o.admin, bad).await;
    assert_eq!(invalid_fields(r), ["name", "email", "role", "location_ids", "password"]);
    let mut common_password = input("Ann", "ann@example.org", StaffRole::Clinician, &[]);
    common_password.password = Some("password1".into());
    assert_eq!(invalid_fields(staff::create(w.db(), &w.hasher, &o.admin, common_password).await), ["password"]);
    let mut no_password = input("Ann", "ann@example.org", StaffRole::Clinician, &[]);
    no_password.password = None;
    assert_eq!(invalid_fields(staff::create(w.db(), &w.hasher, &o.admin, no_password).await), ["password"]);
    assert_eq!(staff_count(w).await, before);

    // The e-mail is unique, whatever its case.
    let r =
        staff::create(w.db(), &w.hasher, &o.admin, input("Copy", "DESK@example.org", StaffRole::Billing, &[])).await;
    assert!(matches!(r, Err(AuthError::Conflict(_))), "{r:?}");
    assert_eq!(staff_count(w).await, before);
    // Also when an update takes someone else's address.
    let mut steal = input("Manager", "desk@example.org", StaffRole::PracticeManager, &[&o.main]);
    steal.password = None;
    let r = staff::update(w.db(), &o.admin, &staff_id(&o.manager), steal).await;
    assert!(matches!(r, Err(AuthError::Conflict(_))), "{r:?}");

    let mut bad_update = input("", "x", StaffRole::Billing, &[]);
    bad_update.password = None;
    assert_eq!(
        invalid_fields(staff::update(w.db(), &o.admin, &staff_id(&o.front_desk), bad_update).await),
        ["name", "email"]
    );
    let r = staff::update(
        w.db(),
        &o.admin,
        &portal_store::ids::new_id(),
        input("Nobody", "nobody@example.org", StaffRole::Billing, &[]),
    )
    .await;
    assert_access(r, AccessError::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_deactivates_or_demotes_themselves() {
    let o = office().await;
    let w = &o.w;
    let admin_id = staff_id(&o.admin);
    let manager_id = staff_id(&o.manager);

    let mut me = input("Admin", "admin@example.org", StaffRole::SuperAdmin, &[]);
    me.active = false;
    assert_access(
        staff::update(w.db(), &o.admin, &admin_id, me).await,
        AccessError::NotOnSelf { action: "deactivate" },
    );
    let demoted = input("Admin", "admin@example.org", StaffRole::PracticeManager, &[]);
    assert_access(
        staff::update(w.db(), &o.admin, &admin_id, demoted).await,
        AccessError::NotOnSelf { action: "change the role" },
    );
    let mut me = input("Manager", "manager@example.org", StaffRole::PracticeManager, &[&o.main]);
    me.active = false;
    assert_access(
        staff::update(w.db(), &o.manager, &manager_id, me).await,
        AccessError::NotOnSelf { action: "deactivate" },
    );
    let promoted = input("Manager", "manager@example.org", StaffRole::Clinician, &[&o.main]);
    assert_access(
        staff::update(w.db(), &o.manager, &manager_id, promoted).await,
        AccessError::NotOnSelf { action: "change the role" },
    );
    // A Practice Manager cannot touch a Super Admin, nor make one.
    let admin_as_is = input("Admin", "admin@example.org", StaffRole::SuperAdmin, &[]);
    assert_access(staff::update(w.db(), &o.manager, &admin_id, admin_as_is).await, super_admin_only());
    let mut admin_off = input("Admin", "admin@example.org", StaffRole::SuperAdmin, &[]);
    admin_off.active = false;
    assert_access(staff::update(w.db(), &o.manager, &admin_id, admin_off).await, super_admin_only());
    let up = input("Desk", "desk@example.org", StaffRole::SuperAdmin, &[&o.main]);
    assert_access(staff::update(w.db(), &o.manager, &staff_id(&o.front_desk), up).await, super_admin_only());
    // And the front desk changes nobody, not even themselves.
    let desk = input("Desk", "desk@example.org", StaffRole::FrontDesk, &[&o.main]);
    assert_access(staff::update(w.db(), &o.front_desk, &staff_id(&o.front_desk), desk).await, manage_users());
    assert!(w.audit(AuditAction::StaffUpdated).await.is_empty());
    w.sign_in("admin@example.org", PASSWORD).await.unwrap();
    let row = staff::get(w.db(), &o.admin, &manager_id).await.unwrap().row;
    assert_eq!((row.role.as_str(), row.active), ("practice_manager", true));

    // One's own name and e-mail are fine, and keep one's sessions.
    let s = w.sign_in("manager@example.org", PASSWORD).await.unwrap();
    let renamed = input("Mona Manager", "mona@example.org", StaffRole::PracticeManager, &[&o.main, &o.annex]);
    let v = staff::update(w.db(), &o.manager, &manager_id, renamed).await.unwrap();
    assert_eq!((v.row.name.as_str(), v.row.email.as_str()), ("Mona Manager", "mona@example.org"));
    assert!(w.is_live(&s.token).await);
    let rows = w.audit(AuditAction::StaffUpdated).await;
    assert_eq!(detail(&rows[0])["changed"], serde_json::json!(["name", "email"]));
    assert_eq!(detail(&rows[0])["sessions_ended"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privilege_changes_end_the_targets_sessions() {
    let o = office().await;
    let w = &o.w;
    let id = w.staff(StaffRole::FrontDesk, "ann@example.org", &[&o.main]).await;
    let signed_in = || async { w.sign_in("ann@example.org", PASSWORD).await.unwrap().token };
    let edit = |role: StaffRole, locations: &[&String], active: bool| {
        let mut i = input("Ann", "ann@example.org", role, locations);
        i.password = None;
        i.active = active;
        i
    };

    // Role change.
    let (a, b) = (signed_in().await, signed_in().await);
    let v = staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.main], true)).await.unwrap();
    assert_eq!(v.row.role, "clinician");
    assert!(!w.is_live(&a).await && !w.is_live(&b).await);

    // Location change, including the same set in another order (no change) first.
    let a = signed_in().await;
    staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.main], true)).await.unwrap();
    assert!(w.is_live(&a).await, "nothing changed, nothing ended");
    staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.annex, &o.main], true)).await.unwrap();
    assert!(!w.is_live(&a).await);
    let a = signed_in().await;
    staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.main, &o.annex], true)).await.unwrap();
    assert!(w.is_live(&a).await, "the same locations in another order are no change");
    staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.annex], true)).await.unwrap();
    assert!(!w.is_live(&a).await);

    // Deactivation: sessions end and the password no longer opens anything.
    let a = signed_in().await;
    let v = staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.annex], false)).await.unwrap();
    assert!(!v.row.active);
    assert!(!w.is_live(&a).await);
    assert!(w.sessions_of(&id).await.is_empty());
    assert_bad_credentials(w.sign_in("ann@example.org", PASSWORD).await);
    // Reactivated, the account signs in again.
    w.clear_failures("ann@example.org").await;
    staff::update(w.db(), &o.manager, &id, edit(StaffRole::Clinician, &[&o.annex], true)).await.unwrap();
    signed_in().await;

    let rows = w.audit(AuditAction::StaffUpdated).await;
    assert_eq!(rows.len(), 7);
    let changed: Vec<serde_json::Value> = rows.iter().map(|r| detail(r)["changed"].clone()).collect();
    assert_eq!(changed[0], serde_json::json!(["name", "role"]), "the fixture's name was another");
    assert_eq!(changed[1], serde_json::json!([]));
    assert_eq!(changed[2], serde_json::json!(["locations"]));
    assert_eq!(changed[5], serde_json::json!(["active"]));
    assert_eq!(detail(&rows[0])["sessions_ended"], 2);
    assert_eq!(detail(&rows[5])["sessions_ended"], 1);
    assert!(rows.iter().all(|r| r.actor_id.as_deref() == Some(staff_id(&o.manager).as_str())));
    assert!(rows.iter().all(|r| r.target_id.as_deref() == Some(id.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_portal_settings_is_granted_by_a_super_admin_only() {
    let o = office().await;
    let w = &o.w;
    let id = w.staff(StaffRole::Clinician, "doc@example.org", &[&o.main]).await;
    let mps = PortalPermission::ManagePortalSettings;

    assert_access(
        set_portal_permission(w.db(), &o.manager, &id, mps, true).await,
        AccessError::SuperAdminOnly { action: "grant or remove Manage Portal Settings" },
    );
    for p in PortalPermission::ALL {
        assert!(set_portal_permission(w.db(), &o.front_desk, &id, p, true).await.is_err(), "{p:?}");
    }
    assert_access(
        set_portal_permission(w.db(), &o.front_desk, &id, PortalPermission::AllowDocumentShare, true).await,
        manage_users(),
    );
    assert!(staff::get(w.db(), &o.admin, &id).await.unwrap().portal_permissions.is_empty());
    assert!(w.audit(AuditAction::PortalPermissionGranted).await.is_empty());

    // Granting does not end sessions; Manage Users grants the other three.
    let s = w.sign_in("doc@example.org", PASSWORD).await.unwrap();
    for p in [
        PortalPermission::AllowDocumentShare,
        PortalPermission::AvailableForPortalMessages,
        PortalPermission::ManagePortalPackages,
    ] {
        let v = set_portal_permission(w.db(), &o.manager, &id, p, true).await.unwrap();
        assert!(v.portal_permissions.contains(&p));
    }
    // A Super Admin grants Manage Portal Settings without holding it.
    assert!(!o.admin.principal.staff().unwrap().portal.manage_portal_settings);
    let v = set_portal_permission(w.db(), &o.admin, &id, mps, true).await.unwrap();
    assert_eq!(v.portal_permissions, PortalPermission::ALL);
    assert!(w.is_live(&s.token).await);
    let session = portal_auth::sessions::authenticate(w.db(), &w.policy, &s.token).await.unwrap().unwrap();
    assert!(session.staff.portal.manage_portal_settings, "the next request sees the grant");
    // Granting what is held already changes and records nothing.
    set_portal_permission(w.db(), &o.admin, &id, mps, true).await.unwrap();
    let granted = w.audit(AuditAction::PortalPermissionGranted).await;
    assert_eq!(granted.len(), 4);
    assert_eq!(detail(&granted[3])["permission"], "manage_portal_settings");
    assert_eq!(granted[3].actor_id.as_deref(), Some(staff_id(&o.admin).as_str()));
    assert_eq!(granted[3].target_id.as_deref(), Some(id.as_str()));

    // Removing: the same rules, and the user's sessions end at once.
    assert_access(
        set_portal_permission(w.db(), &o.manager, &id, mps, false).await,
        AccessError::SuperAdminOnly { action: "grant or remove Manage Portal Settings" },
    );
    assert!(w.is_live(&s.token).await);
    set_portal_permission(w.db(), &o.admin, &id, mps, false).await.unwrap();
    assert!(!w.is_live(&s.token).await);
    let s = w.sign_in("doc@example.org", PASSWORD).await.unwrap();
    let v = set_portal_permission(w.db(), &o.manager, &id, PortalPermission::AllowDocumentShare, false).await.unwrap();
    assert!(!v.portal_permissions.contains(&PortalPermission::AllowDocumentShare));
    assert!(!w.is_live(&s.token).await);
    let revoked = w.audit(AuditAction::PortalPermissionRevoked).await;
    assert_eq!(revoked.len(), 2);
    assert_eq!(detail(&revoked[1])["permission"], "allow_document_share");
    assert_eq!(revoked[1].actor_id.as_deref(), Some(staff_id(&o.manager).as_str()));

    // An unknown user answers like one.
    let r = set_portal_permission(w.db(), &o.admin, &portal_store::ids::new_id(), mps, true).await;
    assert_access(r, AccessError::NotFound);
    // The form shows which controls the actor may use.
    let controls = staff::portal_permission_controls(&o.manager);
    assert!(controls.iter().all(|(p, allowed)| allowed.is_ok() == (*p != mps)));
    assert!(staff::portal_permission_controls(&o.admin).iter().all(|(_, allowed)| allowed.is_ok()));
    assert!(staff::portal_permission_controls(&o.front_desk).iter().all(|(_, allowed)| allowed.is_err()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_super_admin_is_made_at_the_command_line() {
    let w = World::new().await;
    let main = w.location("Main").await;
    let annex = w.location("Annex").await;

    let r = create_super_admin(w.db(), &w.hasher, "root", "", "12345").await;
    assert_eq!(invalid_fields(r), ["email", "name", "password"]);
    let r = create_super_admin(w.db(), &w.hasher, "root@example.org", "Root", "password").await;
    assert_eq!(invalid_fields(r), ["password"]);

    let id = create_super_admin(w.db(), &w.hasher, " Root@Example.org", "Rita Root", PASSWORD).await.unwrap();
    let p = w.principal(&id).await;
    assert_eq!(p.role, StaffRole::SuperAdmin);
    assert!(p.portal.manage_portal_settings);
    assert!(!p.portal.allow_document_share);
    let mut all = vec![main, annex];
    all.sort();
    assert_eq!(p.locations.iter().map(|l| l.to_string()).collect::<Vec<_>>(), all);
    let s = w.sign_in("root@example.org", PASSWORD).await.unwrap();
    assert_eq!(s.staff.id.as_str(), id);

    let rows = w.audit(AuditAction::StaffCreated).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor_kind, "system");
    assert_eq!(rows[0].target_id.as_deref(), Some(id.as_str()));
    assert_eq!(detail(&rows[0])["role"], "super_admin");

    let r = create_super_admin(w.db(), &w.hasher, "root@example.org", "Rita Again", PASSWORD).await;
    assert!(matches!(r, Err(AuthError::Conflict(_))), "{r:?}");

    // The new admin can grant what the command line granted it.
    let admin = actor(w.principal(&id).await);
    let other = w.staff(StaffRole::Clinician, "doc@example.org", &[]).await;
    set_portal_permission(w.db(), &admin, &other, PortalPermission::ManagePortalSettings, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_grants_to_one_user_are_all_kept() {
    let o = office().await;
    let w = &o.w;
    for round in 0..5 {
        let id = w.staff(StaffRole::Clinician, &format!("doc{round}@example.org"), &[&o.main]).await;
        let tasks: Vec<_> = PortalPermission::ALL
            .into_iter()
            .map(|p| {
                let (db, admin, id) = (w.db().clone(), o.admin.clone(), id.clone());
                tokio::spawn(async move { set_portal_permission(&db, &admin, &id, p, true).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let held = w.principal(&id).await.portal.granted();
        assert_eq!(held, PortalPermission::ALL, "every grant that was audited is held");
    }
}

/// Manage Users cannot widen anyone's reach: a Practice Manager hands out only the locations
/// they hold themselves (their own account included), while keeping one already held is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locations_are_handed_out_only_by_those_who_hold_them() {
    let o = office().await;
    let w = &o.w;
    let narrow = w.staff_actor(StaffRole::PracticeManager, "narrow@example.org", &[&o.main]).await;
    let r = staff::create(
        w.db(),
        &w.hasher,
        &narrow,
        input("Far Away", "far@example.org", StaffRole::FrontDesk, &[&o.annex]),
    )
    .await;
    assert_access(r, AccessError::LocationNotYours);
    let near = staff::create(
        w.db(),
        &w.hasher,
        &narrow,
        input("Near By", "near@example.org", StaffRole::FrontDesk, &[&o.main]),
    )
    .await
    .expect("a location the manager holds");
    // The manager cannot give themselves a location either.
    let me = narrow.principal.actor_id().unwrap().to_owned();
    let r = staff::update(
        w.db(),
        &narrow,
        &me,
        input("Narrow", "narrow@example.org", StaffRole::PracticeManager, &[&o.main, &o.annex]),
    )
    .await;
    assert_access(r, AccessError::LocationNotYours);
    // Someone who already had a location keeps it when a narrower manager edits them.
    let both = staff::create(
        w.db(),
        &w.hasher,
        &o.admin,
        input("Both", "both@example.org", StaffRole::FrontDesk, &[&o.main, &o.annex]),
    )
    .await
    .unwrap();
    staff::update(
        w.db(),
        &narrow,
        &both.row.id,
        input("Both Renamed", "both@example.org", StaffRole::FrontDesk, &[&o.main, &o.annex]),
    )
    .await
    .expect("keeping a location already held is not handing it out");
    drop(near);
}
