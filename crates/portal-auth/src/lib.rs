//! Identities: staff accounts and their permissions, password hashing, server-side sessions and
//! sign-in throttling. Portal (patient) identities join here with the accounts capability.

mod error;
pub mod password;
pub mod sessions;
pub mod staff;
pub mod throttle;
pub mod tokens;

pub use error::AuthError;
pub use password::PasswordHasher;
pub use sessions::{SessionPolicy, SignedIn};
