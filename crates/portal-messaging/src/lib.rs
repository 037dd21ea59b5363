//! Secure messaging ("My Messages", seed 001): the use cases of staff and portal users writing to
//! each other about a patient, staff writing to staff, the inbox, archive, unread counts and
//! search. The rules are in `portal_core::messaging`; the SQL in `portal_store::messaging`.
//!
//! Everyone sees only the conversations they take part in: every query starts from the caller's
//! own participant rows, and no permission (Super Admin included) widens that. Each use case
//! takes the caller ([`Caller`]), checks the rule, and writes its rows, its audit row and its
//! domain events in one transaction; reads of messages are audited with `Db::audit_read`.

mod caller;
pub mod compose;
mod eligibility;
mod error;
pub mod inbox;
pub mod send;
pub mod settings;

pub use caller::Caller;
pub use error::MessagingError;
