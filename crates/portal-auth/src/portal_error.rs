use portal_core::portal_access::EnableRefused;
use portal_core::portal_accounts::InviteRefused;
use portal_core::{AccessError, FieldErrors};
use portal_store::StoreError;
use serde::Serialize;

/// Why a link from an e-mail cannot be used. The page shows the same text for all of them and
/// leads to "I forgot my password" (seed 003: "If they try to click this link once it expires
/// after 24 hours, they can click the Forgot Password button"); the reason is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkProblem {
    Unknown,
    Expired,
    Used,
    /// The patient's access was disabled, or their e-mail address changed, since it was sent.
    NoLongerValid,
}

/// Failures of the portal-account use cases (portal users, invitations, onboarding).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// Unknown username, wrong password, no password yet or deactivated account: one answer.
    #[error("the username or password is incorrect")]
    BadCredentials,
    #[error("too many sign-in attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The clinic has turned the portal off (seed 000's Use Portal).
    #[error("the patient portal is not available")]
    PortalUnavailable,
    #[error("this link has expired or has already been used; use \"I forgot my password\" to get a new one")]
    LinkNotUsable { problem: LinkProblem },
    #[error(transparent)]
    Invite(#[from] InviteRefused),
    #[error(transparent)]
    Enable(#[from] EnableRefused),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PortalError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PortalError::Access(AccessError::NotFound),
            StoreError::Conflict { what } => PortalError::Conflict(format!("{what} already exists")),
            other => PortalError::Store(other),
        }
    }
}

impl PortalError {
    pub(crate) fn internal() -> Self {
        PortalError::Store(StoreError::Cancelled)
    }
}
