//! The vocabulary of the audit log (HIPAA 164.312(b)): what happened, named once here so that
//! filters and reports can rely on the words.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SignInSucceeded,
    SignInFailed,
    SignOut,
    PasswordChanged,
    StaffCreated,
    StaffUpdated,
    PortalPermissionGranted,
    PortalPermissionRevoked,
    SettingChanged,
    CompanyUpdated,
    LocationCreated,
    LocationUpdated,
    PatientCreated,
    PatientUpdated,
    PatientViewed,
    PatientSearched,
    PatientsImported,
    ContactCreated,
    ContactUpdated,
    ContactRemoved,
    CareTeamMemberAdded,
    CareTeamMemberRemoved,
    AuditViewed,
    PortalAccessChanged,
    PortalInvitationSent,
    PortalGrantCreated,
    PortalGrantUpdated,
    PortalGrantRevoked,
    PortalRegistrationRequested,
    PortalRegistrationCompleted,
    PortalPasswordResetRequested,
    PortalPasswordReset,
    PortalCredentialsSet,
    PortalEmailChangeRequested,
    PortalEmailChanged,
    ConversationStarted,
    MessageSent,
    ConversationViewed,
    ConversationArchived,
    ConversationUnarchived,
    InboxViewed,
    MessagesSearched,
}

impl AuditAction {
    pub const ALL: &'static [AuditAction] = &[
        Self::SignInSucceeded,
        Self::SignInFailed,
        Self::SignOut,
        Self::PasswordChanged,
        Self::StaffCreated,
        Self::StaffUpdated,
        Self::PortalPermissionGranted,
        Self::PortalPermissionRevoked,
        Self::SettingChanged,
        Self::CompanyUpdated,
        Self::LocationCreated,
        Self::LocationUpdated,
        Self::PatientCreated,
        Self::PatientUpdated,
        Self::PatientViewed,
        Self::PatientSearched,
        Self::PatientsImported,
        Self::ContactCreated,
        Self::ContactUpdated,
        Self::ContactRemoved,
        Self::CareTeamMemberAdded,
        Self::CareTeamMemberRemoved,
        Self::AuditViewed,
        Self::PortalAccessChanged,
        Self::PortalInvitationSent,
        Self::PortalGrantCreated,
        Self::PortalGrantUpdated,
        Self::PortalGrantRevoked,
        Self::PortalRegistrationRequested,
        Self::PortalRegistrationCompleted,
        Self::PortalPasswordResetRequested,
        Self::PortalPasswordReset,
        Self::PortalCredentialsSet,
        Self::PortalEmailChangeRequested,
        Self::PortalEmailChanged,
        Self::ConversationStarted,
        Self::MessageSent,
        Self::ConversationViewed,
        Self::ConversationArchived,
        Self::ConversationUnarchived,
        Self::InboxViewed,
        Self::MessagesSearched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInSucceeded => "sign_in_succeeded",
            Self::SignInFailed => "sign_in_failed",
            Self::SignOut => "sign_out",
            Self::PasswordChanged => "password_changed",
            Self::StaffCreated => "staff_created",
            Self::StaffUpdated => "staff_updated",
            Self::PortalPermissionGranted => "portal_permission_granted",
            Self::PortalPermissionRevoked => "portal_permission_revoked",
            Self::SettingChanged => "setting_changed",
            Self::CompanyUpdated => "company_updated",
            Self::LocationCreated => "location_created",
            Self::LocationUpdated => "location_updated",
            Self::PatientCreated => "patient_created",
            Self::PatientUpdated => "patient_updated",
            Self::PatientViewed => "patient_viewed",
            Self::PatientSearched => "patient_searched",
            Self::PatientsImported => "patients_imported",
            Self::ContactCreated => "contact_created",
            Self::ContactUpdated => "contact_updated",
            Self::ContactRemoved => "contact_removed",
            Self::CareTeamMemberAdded => "care_team_member_added",
            Self::CareTeamMemberRemoved => "care_team_member_removed",
            Self::AuditViewed => "audit_viewed",
            Self::PortalAccessChanged => "portal_access_changed",
            Self::PortalInvitationSent => "portal_invitation_sent",
            Self::PortalGrantCreated => "portal_grant_created",
            Self::PortalGrantUpdated => "portal_grant_updated",
            Self::PortalGrantRevoked => "portal_grant_revoked",
            Self::PortalRegistrationRequested => "portal_registration_requested",
            Self::PortalRegistrationCompleted => "portal_registration_completed",
            Self::PortalPasswordResetRequested => "portal_password_reset_requested",
            Self::PortalPasswordReset => "portal_password_reset",
            Self::PortalCredentialsSet => "portal_credentials_set",
            Self::PortalEmailChangeRequested => "portal_email_change_requested",
            Self::PortalEmailChanged => "portal_email_changed",
            Self::ConversationStarted => "conversation_started",
            Self::MessageSent => "message_sent",
            Self::ConversationViewed => "conversation_viewed",
            Self::ConversationArchived => "conversation_archived",
            Self::ConversationUnarchived => "conversation_unarchived",
            Self::InboxViewed => "inbox_viewed",
            Self::MessagesSearched => "messages_searched",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
        }
    }
}
