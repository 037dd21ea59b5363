use portal_core::messaging::{Ineligible, MessagingRefused};
use portal_core::{AccessError, FieldErrors};
use portal_store::StoreError;

/// Why a messaging use case did not do what was asked. portal-http maps these to answers:
/// `Access(NotFound)` is a 404 whether the conversation is missing or someone else's.
#[derive(Debug, thiserror::Error)]
pub enum MessagingError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    /// A rule refused the send; the text says why in words a person can act on.
    #[error(transparent)]
    Refused(#[from] MessagingRefused),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for MessagingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => MessagingError::Access(AccessError::NotFound),
            other => MessagingError::Store(other),
        }
    }
}

impl From<Ineligible> for MessagingError {
    fn from(e: Ineligible) -> Self {
        MessagingError::Refused(MessagingRefused::Ineligible(e))
    }
}
