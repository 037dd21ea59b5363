//! Portal's pure domain: values parsed once at the boundary, the permission model and every
//! "may X do Y?" rule, and the domain events that other crates react to.
//!
//! Nothing here performs I/O or knows about HTTP or SQL, so every rule can be tested alone and
//! every caller (the pages, the API, the command line) gets the same answer.

pub mod access;
pub mod audit;
pub mod events;
pub mod fields;
pub mod handout;
pub mod ids;
pub mod messaging;
pub mod notifications;
pub mod org;
pub mod patient;
pub mod portal_access;
pub mod portal_accounts;
pub mod requests;
pub mod signin;
pub mod staff;
pub mod time_util;
pub mod username;

pub use access::{AccessError, Actor, Principal, StaffPrincipal};
pub use fields::{FieldError, FieldErrors};
