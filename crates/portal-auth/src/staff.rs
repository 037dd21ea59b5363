//! Staff accounts: create, edit, permissions (seed 000 "Assign Portal Roles"), and the first
//! Super Admin made at the command line.

use portal_core::access::{may_change_portal_permission, may_change_staff};
use portal_core::audit::AuditAction;
use portal_core::patient::{Email, PersonName};
use portal_core::staff::{NewPassword, Permission, PortalPermission, PortalPermissions, StaffRole};
use portal_core::{AccessError, Actor, FieldErrors, Principal};
use portal_store::audit::{self, AuditEntry};
use portal_store::staff::{self as store, NewStaff, StaffProfile, StaffRow};
use portal_store::{Db, ids::new_id, org, sessions as session_store};
use serde::Serialize;
use serde_json::json;

use crate::sessions::STAFF;
use crate::{AuthError, PasswordHasher};

/// A staff user as the Manage Users pages and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    #[serde(flatten)]
    pub row: StaffRow,
    pub location_ids: Vec<String>,
    pub portal_permissions: Vec<PortalPermission>,
}

fn require_manage_users(actor: &Actor) -> Result<(), AuthError> {
    Ok(actor.principal.require(Permission::ManageUsers)?)
}

pub async fn list(db: &Db, actor: &Actor) -> Result<Vec<StaffView>, AuthError> {
    require_manage_users(actor)?;
    let mut conn = db.read().await?;
    let rows = store::list(&mut conn).await?;
    let links = store::all_location_links(&mut conn).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let location_ids = links.iter().filter(|(s, _)| *s == row.id).map(|(_, l)| l.clone()).collect();
            let portal_permissions = row.portal_permissions().granted();
            StaffView { row, location_ids, portal_permissions }
        })
        .collect())
}

pub async fn get(db: &Db, actor: &Actor, id: &str) -> Result<StaffView, AuthError> {
    require_manage_users(actor)?;
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, id).await?;
    let location_ids = store::locations_of(&mut conn, id).await?;
    let portal_permissions = row.portal_permissions().granted();
    Ok(StaffView { row, location_ids, portal_permissions })
}

/// The fields of a staff form, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct StaffInput {
    pub name: String,
    pub email: String,
    pub role: String,
    #[serde(default)]
    pub location_ids: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// Only when creating: the first password, which the user should change.
    #[serde(default)]
    pub password: Option<String>,
}

fn yes() -> bool {
    true
}

struct ParsedStaff {
    name: PersonName,
    email: Email,
    role: StaffRole,
    location_ids: Vec<String>,
}

async fn parse_input(db: &Db, input: &StaffInput, errors: &mut FieldErrors) -> Result<Option<ParsedStaff>, AuthError> {
    let name = errors.check("name", PersonName::parse(&input.name));
    let email = errors.check("email", Email::parse(&input.email));
    let role = errors.check("role", StaffRole::parse(&input.role));
    let mut conn = db.read().await?;
    let known: Vec<String> = org::list_locations(&mut conn).await?.into_iter().map(|l| l.id).collect();
    let mut location_ids = Vec::new();
    for l in &input.location_ids {
        if known.contains(l) {
            if !location_ids.contains(l) {
                location_ids.push(l.clone());
            }
        } else {
            errors.push("location_ids", "names a location that does not exist");
            break;
        }
    }
    Ok(match (name, email, role) {
        (Some(name), Some(email), Some(role)) => Some(ParsedStaff { name, email, role, location_ids }),
        _ => None,
    })
}

/// Creates a staff account (Manage Users; a Super Admin only by a Super Admin).
pub async fn create(
    db: &Db,
    hasher: &PasswordHasher,
    actor: &Actor,
    input: StaffInput,
) -> Result<StaffView, AuthError> {
    require_manage_users(actor)?;
    let mut errors = FieldErrors::new();
    let parsed = parse_input(db, &input, &mut errors).await?;
    let password = errors.check("password", NewPassword::parse(input.password.as_deref().unwrap_or_default()));
    errors.clone().into_result()?;
    let (Some(p), Some(password)) = (parsed, password) else { return Err(errors.into()) };
    if let Principal::Staff(s) = &actor.principal {
        may_change_staff(s, None, None, p.role, false)?;
        portal_core::access::may_assign_locations(s, &[], &p.location_ids)?;
    }
    let hash = hasher.hash(&password).await.map_err(|_| AuthError::Store(portal_store::StoreError::Cancelled))?;
    let id = new_id();
    let actor = actor.clone();
    let id2 = id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            store::insert(
                tx,
                &NewStaff {
                    id: &id2,
                    email: p.email.as_str(),
                    name: p.name.as_str(),
                    password_hash: &hash,
                    role: p.role.as_str(),
                    portal: PortalPermissions::default(),
                },
            )
            .await?;
            store::set_locations(tx, &id2, &p.location_ids).await?;
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::StaffCreated)
                    .target("staff", &id2)
                    .detail(json!({ "role": p.role.as_str(), "locations": p.location_ids })),
            )
            .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await?;
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, &id).await?;
    let location_ids = store::locations_of(&mut conn, &id).await?;
    Ok(StaffView { row, location_ids, portal_permissions: vec![] })
}

/// Edits name, e-mail, role, locations and the active flag. Deactivating a user or changing
/// their role or locations ends their sessions at once (a privilege change).
pub async fn update(db: &Db, actor: &Actor, id: &str, input: StaffInput) -> Result<StaffView, AuthError> {
    require_manage_users(actor)?;
    let mut conn = db.read().await?;
    let before = store::find(&mut conn, id).await?;
    let before_locations = store::locations_of(&mut conn, id).await?;
    drop(conn);
    let mut errors = FieldErrors::new();
    let parsed = parse_input(db, &input, &mut errors).await?;
    errors.clone().into_result()?;
    let Some(p) = parsed else { return Err(errors.into()) };
    let before_role = StaffRole::parse(&before.role).ok();
    if let Principal::Staff(s) = &actor.principal {
        let target = portal_core::ids::StaffId::from_trusted(before.id.clone());
        may_change_staff(s, Some(&target), before_role, p.role, before.active && !input.active)?;
        portal_core::access::may_assign_locations(s, &before_locations, &p.location_ids)?;
    }
    let mut sorted_new = p.location_ids.clone();
    sorted_new.sort();
    // Someone editing their own locations is not signed out by it (their role and active flag
    // are theirs not to change); anyone else's reduced privileges end their sessions at once.
    let is_self = actor.principal.actor_id() == Some(before.id.as_str());
    let privilege_change =
        !is_self && (before_role != Some(p.role) || (before.active && !input.active) || sorted_new != before_locations);
    let mut changed = Vec::new();
    if before.name != p.name.as_str() {
        changed.push("name");
    }
    if before.email != p.email.as_str() {
        changed.push("email");
    }
    if before_role != Some(p.role) {
        changed.push("role");
    }
    if before.active != input.active {
        changed.push("active");
    }
    if sorted_new != before_locations {
        changed.push("locations");
    }
    let actor = actor.clone();
    let id2 = id.to_owned();
    let active = input.active;
    db.write(move |tx| {
        Box::pin(async move {
            store::update_profile(
                tx,
                &id2,
                &StaffProfile {
                    name: p.name.as_str().to_owned(),
                    email: p.email.as_str().to_owned(),
                    role: p.role.as_str().to_owned(),
                    active,
                },
            )
            .await?;
            store::set_locations(tx, &id2, &p.location_ids).await?;
            let ended = if privilege_change { session_store::delete_for_user(tx, STAFF, &id2, None).await? } else { 0 };
            audit::append(
                tx,
                &AuditEntry::by(&actor, AuditAction::StaffUpdated).target("staff", &id2).detail(
                    json!({ "changed": changed, "role": p.role.as_str(), "active": active, "sessions_ended": ended }),
                ),
            )
            .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await?;
    get_unchecked(db, id).await
}

async fn get_unchecked(db: &Db, id: &str) -> Result<StaffView, AuthError> {
    let mut conn = db.read().await?;
    let row = store::find(&mut conn, id).await?;
    let location_ids = store::locations_of(&mut conn, id).await?;
    let portal_permissions = row.portal_permissions().granted();
    Ok(StaffView { row, location_ids, portal_permissions })
}

/// Grants or removes one portal permission. Manage Portal Settings only by a Super Admin; the
/// others by Manage Users (seed 000). Audited either way; removal ends the user's sessions.
pub async fn set_portal_permission(
    db: &Db,
    actor: &Actor,
    id: &str,
    permission: PortalPermission,
    granted: bool,
) -> Result<StaffView, AuthError> {
    match &actor.principal {
        Principal::Staff(s) => may_change_portal_permission(s, permission)?,
        Principal::System => {}
    }
    let actor = actor.clone();
    let id2 = id.to_owned();
    db.write(move |tx| {
        Box::pin(async move {
            // Read inside the write transaction: all four flags are written back, and a set
            // read before it would undo a concurrent change of another flag of the same user.
            let mut perms = store::find_for_update(tx, &id2).await?.portal_permissions();
            if perms.has(permission) == granted {
                return Ok(());
            }
            perms.set(permission, granted);
            store::set_portal_permissions(tx, &id2, perms).await?;
            if !granted {
                session_store::delete_for_user(tx, STAFF, &id2, None).await?;
            }
            let action =
                if granted { AuditAction::PortalPermissionGranted } else { AuditAction::PortalPermissionRevoked };
            audit::append(
                tx,
                &AuditEntry::by(&actor, action)
                    .target("staff", &id2)
                    .detail(json!({ "permission": permission.as_str() })),
            )
            .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await?;
    get_unchecked(db, id).await
}

/// What a staff form must show about each portal permission: may the actor change it, and if
/// not, why (the page shows the control disabled with this reason).
pub fn portal_permission_controls(actor: &Actor) -> Vec<(PortalPermission, Result<(), AccessError>)> {
    PortalPermission::ALL
        .into_iter()
        .map(|p| {
            let allowed = match &actor.principal {
                Principal::Staff(s) => may_change_portal_permission(s, p),
                Principal::System => Ok(()),
            };
            (p, allowed)
        })
        .collect()
}

/// `portal admin create-super-admin`: the first account of an installation, or another one.
/// It holds every location and, so that the installation can be configured, Manage Portal
/// Settings (which otherwise only a Super Admin can grant).
pub async fn create_super_admin(
    db: &Db,
    hasher: &PasswordHasher,
    email: &str,
    name: &str,
    password: &str,
) -> Result<String, AuthError> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(email));
    let name = errors.check("name", PersonName::parse(name));
    let password = errors.check("password", NewPassword::parse(password));
    errors.clone().into_result()?;
    let (Some(email), Some(name), Some(password)) = (email, name, password) else { return Err(errors.into()) };
    let hash = hasher.hash(&password).await.map_err(|_| AuthError::Store(portal_store::StoreError::Cancelled))?;
    let id = new_id();
    let id2 = id.clone();
    db.write(move |tx| {
        Box::pin(async move {
            store::insert(
                tx,
                &NewStaff {
                    id: &id2,
                    email: email.as_str(),
                    name: name.as_str(),
                    password_hash: &hash,
                    role: StaffRole::SuperAdmin.as_str(),
                    portal: PortalPermissions { manage_portal_settings: true, ..Default::default() },
                },
            )
            .await?;
            let all: Vec<String> = org::list_locations(tx).await?.into_iter().map(|l| l.id).collect();
            store::set_locations(tx, &id2, &all).await?;
            audit::append(
                tx,
                &AuditEntry::by(&Actor::system(), AuditAction::StaffCreated)
                    .target("staff", &id2)
                    .detail(json!({ "role": "super_admin", "via": "command line" })),
            )
            .await?;
            Ok::<_, AuthError>(())
        })
    })
    .await?;
    Ok(id)
}
