use portal_core::{AccessError, FieldErrors};
use portal_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PracticeError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    /// The request is well formed but a rule refuses it; the text says which.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PracticeError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PracticeError::Access(AccessError::NotFound),
            StoreError::Conflict { what } => PracticeError::Conflict(format!("{what} already exists")),
            other => PracticeError::Store(other),
        }
    }
}
