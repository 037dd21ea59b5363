//! Staff roles and permissions (seed 000, "Assign Portal Roles").
//!
//! A role carries the EMR-side permissions. The four portal permissions are granted one by one
//! on top of the role; Manage Portal Settings is implied by no role at all, Super Admin included.

use serde::{Deserialize, Serialize};

use crate::patient::InvalidValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    SuperAdmin,
    PracticeManager,
    Clinician,
    FrontDesk,
    Billing,
}

/// EMR-side permissions, implied by the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Create and edit staff accounts and grant every permission but Manage Portal Settings.
    ManageUsers,
    /// Read patients' facesheets, contacts and care teams (of the locations one may access).
    ViewPatients,
    /// Create and edit patients and their contacts.
    EditPatients,
    /// Add and remove care-team members.
    ManageCareTeams,
    /// Edit the company and its locations (Settings > Company, Locations).
    ManageCompany,
    /// Read the audit log.
    ViewAuditLog,
    /// Every location, whatever the user's own location list says.
    AllLocations,
}

impl StaffRole {
    pub const ALL: [StaffRole; 5] =
        [Self::SuperAdmin, Self::PracticeManager, Self::Clinician, Self::FrontDesk, Self::Billing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::PracticeManager => "practice_manager",
            Self::Clinician => "clinician",
            Self::FrontDesk => "front_desk",
            Self::Billing => "billing",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::SuperAdmin => "Super Admin",
            Self::PracticeManager => "Practice Manager",
            Self::Clinician => "Clinician",
            Self::FrontDesk => "Front Desk",
            Self::Billing => "Billing",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf { allowed: "super_admin, practice_manager, clinician, front_desk, billing" })
    }

    /// The EMR-side permissions of the role. Written as a table so that a reader can audit it.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Self::SuperAdmin => {
                &[ManageUsers, ViewPatients, EditPatients, ManageCareTeams, ManageCompany, ViewAuditLog, AllLocations]
            }
            Self::PracticeManager => &[ManageUsers, ViewPatients, EditPatients, ManageCareTeams],
            Self::Clinician => &[ViewPatients, EditPatients, ManageCareTeams],
            Self::FrontDesk => &[ViewPatients, EditPatients],
            Self::Billing => &[ViewPatients],
        }
    }

    pub fn has(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

/// The four portal permissions of seed 000, each granted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalPermission {
    AllowDocumentShare,
    AvailableForPortalMessages,
    ManagePortalPackages,
    ManagePortalSettings,
}

impl PortalPermission {
    pub const ALL: [PortalPermission; 4] = [
        Self::AllowDocumentShare,
        Self::AvailableForPortalMessages,
        Self::ManagePortalPackages,
        Self::ManagePortalSettings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllowDocumentShare => "allow_document_share",
            Self::AvailableForPortalMessages => "available_for_portal_messages",
            Self::ManagePortalPackages => "manage_portal_packages",
            Self::ManagePortalSettings => "manage_portal_settings",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::AllowDocumentShare => "Allow Document Share",
            Self::AvailableForPortalMessages => "Available for Portal Messages",
            Self::ManagePortalPackages => "Manage Portal Packages",
            Self::ManagePortalSettings => "Manage Portal Settings",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == raw.trim())
            .ok_or(InvalidValue::NotOneOf {
                allowed: "allow_document_share, available_for_portal_messages, manage_portal_packages, manage_portal_settings",
            })
    }
}

/// The set of portal permissions a staff user holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortalPermissions {
    pub allow_document_share: bool,
    pub available_for_portal_messages: bool,
    pub manage_portal_packages: bool,
    pub manage_portal_settings: bool,
}

impl PortalPermissions {
    pub fn has(&self, p: PortalPermission) -> bool {
        match p {
            PortalPermission::AllowDocumentShare => self.allow_document_share,
            PortalPermission::AvailableForPortalMessages => self.available_for_portal_messages,
            PortalPermission::ManagePortalPackages => self.manage_portal_packages,
            PortalPermission::ManagePortalSettings => self.manage_portal_settings,
        }
    }

    pub fn set(&mut self, p: PortalPermission, on: bool) {
        match p {
            PortalPermission::AllowDocumentShare => self.allow_document_share = on,
            PortalPermission::AvailableForPortalMessages => self.available_for_portal_messages = on,
            PortalPermission::ManagePortalPackages => self.manage_portal_packages = on,
            PortalPermission::ManagePortalSettings => self.manage_portal_settings = on,
        }
    }

    pub fn granted(&self) -> Vec<PortalPermission> {
        PortalPermission::ALL.into_iter().filter(|p| self.has(*p)).collect()
    }
}

/// Why a chosen password was refused (ASVS 6.2): length bounds and the common-password list.
/// No composition rules and no rotation, on purpose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("must be at least {min} characters (15 or more is recommended)")]
    TooShort { min: usize },
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("is one of the most commonly used passwords; choose another")]
    Common,
}

/// A password that meets the policy. It never leaves memory except as an argon2id hash.
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

impl NewPassword {
    pub const MIN: usize = 8;
    /// Well above ASVS's floor of 64; never truncated. The upper bound keeps a hash request from
    /// becoming a way to burn CPU.
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, PasswordRejected> {
        let n = raw.chars().count();
        if n < Self::MIN {
            return Err(PasswordRejected::TooShort { min: Self::MIN });
        }
        if n > Self::MAX {
            return Err(PasswordRejected::TooLong { max: Self::MAX });
        }
        let lower = raw.to_lowercase();
        if COMMON_PASSWORDS.lines().any(|l| l == lower) {
            return Err(PasswordRejected::Common);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_role_implies_manage_portal_settings() {
        // Seed 000: "This role is not included in any other role including Super Admin".
        for role in StaffRole::ALL {
            assert!(!role.permissions().is_empty());
            let p = PortalPermissions::default();
            assert!(!p.has(PortalPermission::ManagePortalSettings), "{role:?}");
        }
    }

    #[test]
    fn password_policy() {
        assert_eq!(NewPassword::parse("short").unwrap_err(), PasswordRejected::TooShort { min: 8 });
        assert_eq!(NewPassword::parse("password1").unwrap_err(), PasswordRejected::Common);
        assert_eq!(NewPassword::parse("PASSWORD").unwrap_err(), PasswordRejected::Common);
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
        assert!(NewPassword::parse(&"é".repeat(64)).is_ok());
        assert!(NewPassword::parse("correct horse battery staple").is_ok());
    }

    #[test]
    fn common_list_has_three_thousand_entries() {
        assert!(COMMON_PASSWORDS.lines().count() >= 3000);
    }

    #[test]
    fn roles_round_trip() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()).unwrap(), r);
        }
        assert!(StaffRole::parse("root").is_err());
    }
}
