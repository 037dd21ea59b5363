//! Identities: staff accounts and their permissions, password hashing, server-side sessions and
//! sign-in throttling; portal accounts (patients, contacts, designated users) with their grants,
//! invitations, self-registration, resets, e-mail changes, sessions and the Onboarding Tool.

pub mod email_change;
mod error;
pub mod invitations;
pub mod onboarding;
pub mod password;
pub mod portal_error;
pub mod portal_grants;
pub mod portal_home;
pub mod portal_links;
pub mod portal_sessions;
pub mod registration;
pub mod sessions;
pub mod staff;
pub mod throttle;
pub mod tokens;

pub use error::AuthError;
pub use password::PasswordHasher;
pub use portal_error::{LinkProblem, PortalError};
pub use portal_sessions::{PortalSession, PortalSessionPolicy, PortalSignedIn};
pub use sessions::{SessionPolicy, SignedIn};
