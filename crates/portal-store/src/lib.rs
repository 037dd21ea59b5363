//! Portal's persistence: the schema, mirrored migrations for SQLite and PostgreSQL, the query
//! functions (each takes a connection), the audit chain, and per-test databases.
//!
//! SQL lives here and nowhere else. There are no repository traits: there is one storage
//! engine, diesel, and a small facade ([`db`]) that runs a query body on either backend.

pub mod audit;
pub mod bench_seed;
pub mod branding;
mod cached;
pub mod db;
mod error;
pub mod handout;
pub mod ids;
pub mod messaging;
pub mod notifications;
pub mod onboarding;
pub mod org;
pub mod outbox;
pub mod patients;
pub mod portal_access;
pub mod portal_accounts;
pub mod requests;
pub mod schema;
pub mod sessions;
pub mod staff;
pub mod testing;

pub use db::{Backend, Db, DbConn, PoolOptions, sqlite_audit_file};
pub use error::StoreError;

pub(crate) mod migrations {
    use diesel_migrations::{EmbeddedMigrations, embed_migrations};
    pub const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
    pub const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
}
