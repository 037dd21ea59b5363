//! A database of its own for each test, on the backend the test run names.
//!
//! `PORTAL_TEST_BACKEND=sqlite` (the default) gives each test a fresh SQLite file in a temporary
//! directory. `PORTAL_TEST_BACKEND=postgres` with `PORTAL_TEST_POSTGRES_URL=postgres://.../postgres`
//! (set by `cargo xtask test`) creates a fresh database `portal_test_<random>` per test on that
//! server; `cargo xtask test` removes the whole throwaway cluster afterwards.

pub mod fixtures;

use std::path::PathBuf;

use crate::{Backend, Db, PoolOptions, StoreError};

pub struct TestDb {
    pub db: Db,
    pub url: String,
    dir: Option<PathBuf>,
}

impl TestDb {
    /// The backend this test run uses.
    pub fn backend() -> Backend {
        match std::env::var("PORTAL_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// A migrated, empty database. Panics with a clear message if the test backend is
    /// misconfigured, since no test can run then.
    pub async fn new() -> TestDb {
        match Self::try_new().await {
            Ok(t) => t,
            Err(e) => panic!("cannot create a test database: {e}"),
        }
    }

    pub async fn try_new() -> Result<TestDb, StoreError> {
        let opts = PoolOptions { max_connections: 4, ..PoolOptions::default() };
        let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
        match Self::backend() {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).map_err(|e| StoreError::Connect(e.to_string()))?;
                let url = format!("sqlite://{}", dir.join("portal.db").display());
                let db = Db::connect(&url, &opts).await?;
                db.migrate().await?;
                Ok(TestDb { db, url, dir: Some(dir) })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("PORTAL_TEST_POSTGRES_URL").map_err(|_| {
                    StoreError::Connect("PORTAL_TEST_BACKEND=postgres needs PORTAL_TEST_POSTGRES_URL".into())
                })?;
                create_pg_database(&admin_url, &name).await?;
                let url = replace_db_name(&admin_url, &name);
                let db = Db::connect(&url, &opts).await?;
                db.migrate().await?;
                Ok(TestDb { db, url, dir: None })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn create_pg_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let mut c = AsyncPgConnection::establish(admin_url).await.map_err(|e| StoreError::Connect(e.to_string()))?;
    // `name` is made above of ASCII letters, digits and underscores only.
    c.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    Ok(())
}

/// Replaces the database name (the URL's path) of a PostgreSQL URL, keeping its query string.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_names() {
        assert_eq!(super::replace_db_name("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(super::replace_db_name("postgres://u@h:5/postgres?host=/tmp", "x"), "postgres://u@h:5/x?host=/tmp");
        assert_eq!(super::replace_db_name("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    }
}
