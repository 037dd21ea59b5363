/// Failures of the store. Callers map `NotFound` and `Conflict` to answers a person can act on;
/// everything else is a server fault, logged and never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    /// A unique constraint refused the write; `what` names the constraint's subject.
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("database URL `{0}` is not supported: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("the operation was cancelled")]
    Cancelled,
    #[error("database error: {0}")]
    Query(#[source] diesel::result::Error),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// The group commit of audited reads failed (its cause is logged); the read is refused.
    #[error("recording the audit row failed: {0}")]
    Audit(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => StoreError::Conflict {
                what: info
                    .constraint_name()
                    .or(info.column_name())
                    .map(str::to_owned)
                    .unwrap_or_else(|| unique_subject(info.message())),
            },
            other => StoreError::Query(other),
        }
    }
}

/// SQLite reports a unique violation as "UNIQUE constraint failed: table.column".
fn unique_subject(message: &str) -> String {
    message.rsplit_once(": ").map(|(_, cols)| cols.to_owned()).unwrap_or_else(|| "a record".to_owned())
}
