//! The `portal` binary's library: the HTTP shell around the domain crates. It routes, extracts
//! and validates input, maps errors to answers and renders pages; it writes no SQL and decides
//! no business rule.

pub mod api;
pub mod app;
mod assets;
pub mod cli;
pub mod config;
pub mod cursor;
pub mod demo;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod pages;
pub mod queue_reply;
pub mod state;

pub use app::build;
pub use state::AppState;
