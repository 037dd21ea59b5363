use portal_core::{AccessError, FieldErrors};
use portal_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong e-mail or password, unknown account or inactive account: one answer for all, so
    /// that nobody can learn which accounts exist (ASVS 6.3.8).
    #[error("the e-mail address or password is incorrect")]
    BadCredentials,
    /// Too many failures for this account or from this address.
    #[error("too many sign-in attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AuthError::Access(AccessError::NotFound),
            StoreError::Conflict { what } => AuthError::Conflict(format!("{what} already exists")),
            other => AuthError::Store(other),
        }
    }
}
