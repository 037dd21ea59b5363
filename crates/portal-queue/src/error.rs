use portal_core::requests::RequestRefused;
use portal_core::{AccessError, FieldErrors};
use portal_store::StoreError;

/// Why a queue use case did not do what was asked. portal-http maps these to answers:
/// `Access(NotFound)` is a 404 whether the request is missing or at someone else's location.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    /// A rule refused the change; the text says why in words a person can act on.
    #[error(transparent)]
    Refused(#[from] RequestRefused),
    /// The same idempotency key was sent again with another request.
    #[error("this Idempotency-Key was already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => QueueError::Access(AccessError::NotFound),
            other => QueueError::Store(other),
        }
    }
}
