//! Random identifiers for records that appear in URLs (ASVS: not sequential, not guessable).

/// A new random id (UUID version 4: 122 random bits from the OS generator).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
