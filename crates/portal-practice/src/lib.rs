//! The clinic's own records: the organisation and its locations, the instance settings (Use
//! Portal and its history), patients with their contacts and care teams, the patient roster
//! import, and the audit log.

pub mod audit_log;
pub mod company;
mod error;
pub mod handout;
pub mod import;
pub mod patients;
pub mod portal_access;
pub mod settings;

pub use error::PracticeError;
