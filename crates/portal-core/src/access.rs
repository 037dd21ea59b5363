//! Who is acting, and every "may this principal do that?" rule. Deny by default: a rule returns
//! `Ok(())` only when it finds a reason to allow.

use serde::Serialize;

use crate::ids::{LocationId, StaffId};
use crate::staff::{Permission, PortalPermission, PortalPermissions, StaffRole};

/// Why an action was refused. `NotFound` is used wherever telling "forbidden" would reveal that a
/// record exists (ASVS 8.2.2): callers cannot tell a foreign record from a missing one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("sign-in required")]
    Unauthenticated,
    #[error("you need the {needs} permission for this")]
    Forbidden { needs: &'static str },
    #[error("only a Super Admin can {action}")]
    SuperAdminOnly { action: &'static str },
    #[error("you cannot {action} on your own account")]
    NotOnSelf { action: &'static str },
    #[error("you can only give access to locations you can access yourself")]
    LocationNotYours,
    #[error("not found")]
    NotFound,
}

/// A signed-in staff user, as loaded at the start of every request (so that a permission removed
/// a moment ago is already gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffPrincipal {
    pub id: StaffId,
    pub name: String,
    pub role: StaffRole,
    pub portal: PortalPermissions,
    pub locations: Vec<LocationId>,
}

/// The acting party of a use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Staff(StaffPrincipal),
    /// The command line or a background worker acting for the operator.
    System,
}

impl Principal {
    pub fn staff(&self) -> Option<&StaffPrincipal> {
        match self {
            Principal::Staff(s) => Some(s),
            Principal::System => None,
        }
    }

    /// The id written to audit rows.
    pub fn actor_id(&self) -> Option<&str> {
        self.staff().map(|s| s.id.as_str())
    }

    pub fn actor_kind(&self) -> &'static str {
        match self {
            Principal::Staff(_) => "staff",
            Principal::System => "system",
        }
    }

    /// Requires an EMR-side permission. The system principal (command line) holds them all.
    pub fn require(&self, p: Permission) -> Result<(), AccessError> {
        match self {
            Principal::System => Ok(()),
            Principal::Staff(s) => s.require(p),
        }
    }

    /// Whether this principal may see records of `location`.
    pub fn may_access_location(&self, location: &LocationId) -> bool {
        match self {
            Principal::System => true,
            Principal::Staff(s) => s.may_access_location(location),
        }
    }

    /// The locations this principal is limited to, or `None` for all of them.
    pub fn location_scope(&self) -> Option<&[LocationId]> {
        match self {
            Principal::System => None,
            Principal::Staff(s) if s.role.has(Permission::AllLocations) => None,
            Principal::Staff(s) => Some(&s.locations),
        }
    }
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::ManageUsers => "Manage Users",
        Permission::ViewPatients => "View Patients",
        Permission::EditPatients => "Edit Patients",
        Permission::ManageCareTeams => "Manage Care Teams",
        Permission::ManageCompany => "Manage Company",
        Permission::ViewAuditLog => "View Audit Log",
        Permission::AllLocations => "All Locations",
    }
}

impl StaffPrincipal {
    pub fn has(&self, p: Permission) -> bool {
        self.role.has(p)
    }

    pub fn require(&self, p: Permission) -> Result<(), AccessError> {
        if self.has(p) { Ok(()) } else { Err(AccessError::Forbidden { needs: permission_name(p) }) }
    }

    pub fn may_access_location(&self, location: &LocationId) -> bool {
        self.has(Permission::AllLocations) || self.locations.contains(location)
    }

    /// Seed 000: only Manage Portal Settings opens the portal settings pages; no role implies it.
    pub fn require_portal_settings(&self) -> Result<(), AccessError> {
        if self.portal.has(PortalPermission::ManagePortalSettings) {
            Ok(())
        } else {
            Err(AccessError::Forbidden { needs: "Manage Portal Settings" })
        }
    }
}

/// May `actor` grant or remove portal permission `p`? Seed 000: Manage Portal Settings "can only
/// be provisioned by a Super Admin, users with the Manage Users feature will not be able to
/// assign the role"; the other three follow Manage Users.
pub fn may_change_portal_permission(actor: &StaffPrincipal, p: PortalPermission) -> Result<(), AccessError> {
    match p {
        PortalPermission::ManagePortalSettings => {
            if actor.role == StaffRole::SuperAdmin {
                Ok(())
            } else {
                Err(AccessError::SuperAdminOnly { action: "grant or remove Manage Portal Settings" })
            }
        }
        _ => actor.require(Permission::ManageUsers),
    }
}

/// May `actor` create staff accounts or change a staff member's name, e-mail, role, locations or
/// active flag? Manage Users is needed; making or unmaking a Super Admin needs a Super Admin; and
/// nobody may deactivate or demote themselves, so that an organisation cannot lock itself out
/// by a slip.
pub fn may_change_staff(
    actor: &StaffPrincipal,
    target: Option<&StaffId>,
    target_role_before: Option<StaffRole>,
    target_role_after: StaffRole,
    deactivates: bool,
) -> Result<(), AccessError> {
    actor.require(Permission::ManageUsers)?;
    let touches_super_admin =
        target_role_before == Some(StaffRole::SuperAdmin) || target_role_after == StaffRole::SuperAdmin;
    if touches_super_admin && actor.role != StaffRole::SuperAdmin {
        return Err(AccessError::SuperAdminOnly { action: "create, change or remove a Super Admin" });
    }
    if target == Some(&actor.id) {
        if deactivates {
            return Err(AccessError::NotOnSelf { action: "deactivate" });
        }
        if target_role_before.is_some_and(|r| r != target_role_after) {
            return Err(AccessError::NotOnSelf { action: "change the role" });
        }
    }
    Ok(())
}

/// May `actor` give a staff member the locations `after` (who had `before`)? Someone without
/// every location can only hand out the locations they hold themselves, so that Manage Users
/// cannot be used to widen anyone's reach to patients, their own included.
pub fn may_assign_locations(actor: &StaffPrincipal, before: &[String], after: &[String]) -> Result<(), AccessError> {
    if actor.has(Permission::AllLocations) {
        return Ok(());
    }
    let added_foreign = after
        .iter()
        .filter(|l| !before.contains(l))
        .any(|l| !actor.locations.iter().any(|mine| mine.as_str() == l.as_str()));
    if added_foreign { Err(AccessError::LocationNotYours) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: StaffRole) -> StaffPrincipal {
        StaffPrincipal {
            id: StaffId::from_trusted("00000000-0000-4000-8000-000000000001".into()),
            name: "Test".into(),
            role,
            portal: PortalPermissions::default(),
            locations: vec![LocationId::from_trusted("00000000-0000-4000-8000-0000000000aa".into())],
        }
    }

    #[test]
    fn only_super_admin_grants_manage_portal_settings() {
        assert!(
            may_change_portal_permission(&staff(StaffRole::SuperAdmin), PortalPermission::ManagePortalSettings).is_ok()
        );
        for role in [StaffRole::PracticeManager, StaffRole::Clinician, StaffRole::FrontDesk, StaffRole::Billing] {
            assert_eq!(
                may_change_portal_permission(&staff(role), PortalPermission::ManagePortalSettings),
                Err(AccessError::SuperAdminOnly { action: "grant or remove Manage Portal Settings" }),
                "{role:?}"
            );
        }
    }

    #[test]
    fn manage_users_grants_the_other_portal_permissions() {
        let pm = staff(StaffRole::PracticeManager);
        for p in [
            PortalPermission::AllowDocumentShare,
            PortalPermission::AvailableForPortalMessages,
            PortalPermission::ManagePortalPackages,
        ] {
            assert!(may_change_portal_permission(&pm, p).is_ok());
            assert!(may_change_portal_permission(&staff(StaffRole::FrontDesk), p).is_err());
        }
    }

    #[test]
    fn super_admin_needs_explicit_portal_settings_permission() {
        let mut sa = staff(StaffRole::SuperAdmin);
        assert!(sa.require_portal_settings().is_err());
        sa.portal.manage_portal_settings = true;
        assert!(sa.require_portal_settings().is_ok());
    }

    #[test]
    fn staff_changes() {
        let pm = staff(StaffRole::PracticeManager);
        let other = StaffId::from_trusted("00000000-0000-4000-8000-000000000002".into());
        assert!(may_change_staff(&pm, Some(&other), Some(StaffRole::FrontDesk), StaffRole::Clinician, false).is_ok());
        assert!(may_change_staff(&pm, Some(&other), Some(StaffRole::FrontDesk), StaffRole::SuperAdmin, false).is_err());
        assert!(may_change_staff(&pm, Some(&other), Some(StaffRole::SuperAdmin), StaffRole::SuperAdmin, true).is_err());
        assert!(
            may_change_staff(
                &staff(StaffRole::Clinician),
                Some(&other),
                Some(StaffRole::FrontDesk),
                StaffRole::FrontDesk,
                false
            )
            .is_err()
        );
        let sa = staff(StaffRole::SuperAdmin);
        assert!(
            may_change_staff(&sa, Some(&sa.id.clone()), Some(StaffRole::SuperAdmin), StaffRole::SuperAdmin, true)
                .is_err()
        );
        assert!(
            may_change_staff(&sa, Some(&sa.id.clone()), Some(StaffRole::SuperAdmin), StaffRole::Billing, false)
                .is_err()
        );
    }

    #[test]
    fn locations_are_handed_out_only_by_those_who_hold_them() {
        let pm = staff(StaffRole::PracticeManager);
        let mine = pm.locations[0].to_string();
        let other = "00000000-0000-4000-8000-0000000000bb".to_owned();
        assert!(may_assign_locations(&pm, &[], std::slice::from_ref(&mine)).is_ok());
        assert_eq!(may_assign_locations(&pm, &[], std::slice::from_ref(&other)), Err(AccessError::LocationNotYours));
        // Keeping a location someone already had is not handing it out.
        assert!(may_assign_locations(&pm, std::slice::from_ref(&other), &[other.clone(), mine]).is_ok());
        assert!(may_assign_locations(&staff(StaffRole::SuperAdmin), &[], &[other]).is_ok());
    }

    #[test]
    fn location_scope() {
        let fd = staff(StaffRole::FrontDesk);
        let other = LocationId::from_trusted("00000000-0000-4000-8000-0000000000bb".into());
        assert!(!fd.may_access_location(&other));
        assert!(fd.may_access_location(&fd.locations[0].clone()));
        assert!(staff(StaffRole::SuperAdmin).may_access_location(&other));
        assert_eq!(Principal::Staff(staff(StaffRole::SuperAdmin)).location_scope(), None);
    }
}

/// A principal and where the request came from: what every use case receives, so that its audit
/// row can say who, acting for whom, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub principal: Principal,
    /// The client address (after trusted-proxy resolution), if known.
    pub ip: Option<String>,
}

impl Actor {
    pub fn new(principal: Principal, ip: Option<String>) -> Self {
        Self { principal, ip }
    }

    /// The operator at the command line.
    pub fn system() -> Self {
        Self { principal: Principal::System, ip: None }
    }

    pub fn name(&self) -> &str {
        match &self.principal {
            Principal::Staff(s) => &s.name,
            Principal::System => "system",
        }
    }
}
