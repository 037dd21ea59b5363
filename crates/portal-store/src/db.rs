//! The database facade: one of two backends chosen at run time by the URL.
//!
//! Released diesel-async has no async `MultiConnection`, so this module holds an enum of the two
//! pools and the two connection types, and the `on_backend!` macro expands one query body once
//! per backend. Keep it small: when diesel-async ships a `MultiConnection`, this file is what
//! changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::bb8::{Pool, PooledConnection};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::StoreError;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, SqliteRuntime>;
pub type PgConn = AsyncPgConnection;
type SqlitePool = Pool<SqliteConn>;
type PgPool = Pool<PgConn>;

/// Expands a query body once per backend. `$c` is bound to `&mut SqliteConn` or `&mut PgConn`.
/// The second form takes a body per backend, for dialect-specific SQL such as full-text search.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut $crate::db::SqliteConn = &mut *pooled;
                $body
            }
            $crate::db::DbConn::Pg(pooled) => {
                let $c: &mut $crate::db::PgConn = &mut *pooled;
                $body
            }
        }
    };
    ($conn:expr, sqlite |$c1:ident| $b1:expr, pg |$c2:ident| $b2:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c1: &mut $crate::db::SqliteConn = &mut *pooled;
                $b1
            }
            $crate::db::DbConn::Pg(pooled) => {
                let $c2: &mut $crate::db::PgConn = &mut *pooled;
                $b2
            }
        }
    };
}
pub(crate) use on_backend;

/// Inserts a slice of `Insertable` rows into `$table` in one statement, inside the caller's
/// transaction; evaluates to diesel's `QueryResult<usize>`. diesel-async cannot send a
/// multi-row `INSERT` to SQLite, so there the statement runs on the wrapped synchronous
/// connection (same connection, same transaction); PostgreSQL uses diesel-async. The row type
/// must write `None` as NULL (`treat_none_as_default_value = false`), which SQLite's batch
/// insert needs.
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let owned = $rows.to_vec();
        $crate::db::on_backend!(
            $conn,
            sqlite
                | c
                | c.spawn_blocking(move |sc| diesel::RunQueryDsl::execute(
                    diesel::insert_into($table).values(&owned),
                    sc
                ))
                .await,
            pg | c | diesel_async::RunQueryDsl::execute(diesel::insert_into($table).values(owned), c).await
        )
    }};
}
pub(crate) use insert_many;

/// Loads the rows of `$query` (written once, expanded per backend so that each expansion is
/// typed for its backend): on SQLite through [`load_sqlite`], on PostgreSQL through diesel-async.
macro_rules! load_rows {
    ($conn:expr, $query:expr) => {
        $crate::db::on_backend!(
            $conn,
            sqlite | c | $crate::db::load_sqlite(c, $query).await,
            pg | c | diesel_async::RunQueryDsl::load($query, c).await
        )
    };
}
pub(crate) use load_rows;

/// Loads `query` on SQLite with the wrapped synchronous connection in one call (on the worker
/// for a reader, one hop to the blocking pool for the writer: [`SqliteRuntime`]), building the
/// rows there. diesel-async's own `load` on SQLite copies every value of
/// every row into an owned row (an allocation and a `sqlite3_value_dup` each) to carry it back
/// to the async side before building the rows: 12 % of the CPU of a page of 25 requests,
/// measured. For the hot list reads; the query must own its bound values.
pub(crate) async fn load_sqlite<Q, U>(c: &mut SqliteConn, query: Q) -> diesel::QueryResult<Vec<U>>
where
    Q: diesel::query_dsl::LoadQuery<'static, SqliteConnection, U> + Send + 'static,
    U: Send + 'static,
{
    c.spawn_blocking(move |conn| diesel::RunQueryDsl::load(query, conn)).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A pooled connection of either backend. Queries take `&mut DbConn`.
// The PostgreSQL variant is larger, but a connection is held by one task at a time and never
// stored in bulk; boxing it would cost an allocation per checkout.
#[allow(clippy::large_enum_variant)]
pub enum DbConn {
    Sqlite(PooledConnection<'static, SqliteConn>),
    Pg(PooledConnection<'static, PgConn>),
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Pg(_) => Backend::Postgres,
        }
    }
}

enum Pools {
    /// SQLite allows one writer at a time. Readers share a pool; writes go through a pool of one
    /// connection, so our own writers queue in the process instead of failing with "database is
    /// locked", and `BEGIN IMMEDIATE` takes the lock up front.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
        path: PathBuf,
    },
    Pg {
        pool: PgPool,
        url: String,
    },
}

/// Pool sizes and timeouts. The defaults suit the two-core machines Portal is tested on.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(10) }
    }
}

/// The database: cheap to clone, shared by every request and worker.
#[derive(Clone)]
pub struct Db {
    pools: Arc<Pools>,
    /// The group committer of audited reads (see [`Db::audit_read`]). `None` in the committer's
    /// own handle, so that the task ends once every other handle is gone.
    reads: Option<tokio::sync::mpsc::Sender<PendingRead>>,
}

/// An audited read waiting for its row to be committed, or (no entry) a committed write waiting
/// for its pending rows to be chained.
struct PendingRead {
    entry: Option<crate::audit::AuditEntry>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The most audit rows one group commit writes.
const READ_BATCH: usize = 1000;

/// Statistics for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub connections: u32,
    pub idle: u32,
}

/// Per-connection SQLite settings, after attaching the audit log's file as `audit` (see
/// [`sqlite_audit_file`]). WAL (for both files: `journal_mode` without a schema sets every
/// attached one) lets readers run beside the writer; `synchronous=FULL` because NORMAL can lose
/// the last commits on power loss, which PHI and its audit rows must not; `busy_timeout` covers
/// the rare writer of another process (the command line beside a running server).
fn sqlite_setup(audit_file: &Path) -> String {
    let audit = audit_file.to_string_lossy().replace('\'', "''");
    format!(
        "ATTACH DATABASE '{audit}' AS audit; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         PRAGMA audit.synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
         PRAGMA temp_store = MEMORY;"
    )
}

/// A reader's settings besides [`sqlite_setup`]'s. `cache_size`: 32 MiB of pages (SQLite's
/// default is 2 MiB), allocated as they are read: a search's full-text postings and the
/// conversations they name did not fit in 2 MiB and came back from the OS on every search
/// (`refill` over the benchmark's data: 1.2 ms a search with 2 MiB, 0.7 ms with more).
const SQLITE_READER_SETUP: &str = "PRAGMA query_only = ON; PRAGMA cache_size = -32768;";

/// The file that holds a SQLite database's audit log: `portal.db` -> `portal-audit.db` (a name
/// without an extension gets `-audit`). Every connection attaches it as `audit`.
///
/// Why a file of its own: every commit to a SQLite file makes each other connection drop its
/// whole page cache for that file at its next read. With the audit log beside the records,
/// each group commit of audited reads (hundreds a second under load) emptied every reader's
/// cache, and each read fetched its pages again from the OS; a commit to the attached file
/// leaves the records' caches alone (`refill` searched 1.46 -> 0.89 ms a search, measured with
/// commits every millisecond).
pub fn sqlite_audit_file(database: &Path) -> PathBuf {
    let stem = database.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match database.extension() {
        Some(ext) => format!("{stem}-audit.{}", ext.to_string_lossy()),
        None => format!("{stem}-audit"),
    };
    database.with_file_name(name)
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    if rest.is_empty() || rest.contains('?') || rest == ":memory:" {
        return None;
    }
    Some(PathBuf::from(rest))
}

impl Db {
    /// Opens pools for `url`: `sqlite://path/to/file.db` or `postgres://...`.
    pub async fn connect(url: &str, opts: &PoolOptions) -> Result<Db, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config = ManagerConfig::<PgConn>::default();
            // The default `Verified` method adds a `SELECT 1` to every checkout (26-40 % of
            // throughput measured); a broken connection still shows up as a failing query.
            config.recycling_method = RecyclingMethod::Fast;
            let manager = AsyncDieselConnectionManager::<PgConn>::new_with_config(url, config);
            let pool = Pool::builder()
                .max_size(opts.max_connections)
                .connection_timeout(opts.acquire_timeout)
                .test_on_check_out(false)
                .build(manager)
                .await
                .map_err(|e| StoreError::Connect(e.to_string()))?;
            // Fail at start-up, not on the first request, when the server is unreachable.
            drop(pool.get().await.map_err(|e| StoreError::Connect(e.to_string()))?);
            return Ok(Db::with_read_auditor(Pools::Pg { pool, url: url.to_owned() }));
        }
        let path = sqlite_path(url).ok_or_else(|| StoreError::BadUrl(url.to_owned()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Connect(format!("{}: {e}", dir.display())))?;
        }
        let checked = path.clone();
        tokio::task::spawn_blocking(move || refuse_without_audit_file(&checked))
            .await
            .map_err(|_| StoreError::Cancelled)??;
        let read = sqlite_pool(&path, opts.max_connections, opts.acquire_timeout, true).await?;
        let write = sqlite_pool(&path, 1, opts.acquire_timeout.max(Duration::from_secs(30)), false).await?;
        Ok(Db::with_read_auditor(Pools::Sqlite { read, write, path }))
    }

    /// The handle, and the task that commits audited reads in groups.
    fn with_read_auditor(pools: Pools) -> Db {
        let pools = Arc::new(pools);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<PendingRead>(4 * READ_BATCH);
        let committer = Db { pools: pools.clone(), reads: None };
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < READ_BATCH {
                    match rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                // A batch with a chaining request moves `audit_pending` into the chain first (a
                // batch of only such requests has no entries of its own).
                let entries: Vec<_> = batch.iter().filter_map(|p| p.entry.clone()).collect();
                let drain = batch.iter().any(|p| p.entry.is_none());
                let outcome = committer
                    .write(move |tx| Box::pin(async move { crate::audit::extend(tx, &entries, drain).await }))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                for p in batch {
                    // A reader that has gone away no longer waits for its row; it is written anyway.
                    let _ = p.done.send(outcome.clone());
                }
            }
        });
        Db { pools, reads: Some(tx) }
    }

    /// Records an audited read (a patient opened, a list or a search of PHI) and returns once
    /// its row is committed, so that nothing is shown before it is on record.
    ///
    /// Reads that arrive while a commit is under way are written together in the next one (a
    /// group commit: one lock of the chain's head, one multi-row insert, one fsync), so that
    /// audited reads are not limited to one disk flush each. Writes record their row inside
    /// their own transaction with [`crate::audit::append`], chained after their commit (on
    /// PostgreSQL by this same group commit: [`Db::chain_pending`]).
    pub async fn audit_read(&self, entry: crate::audit::AuditEntry) -> Result<(), StoreError> {
        self.group_commit(Some(entry)).await
    }

    /// Chains the rows that committed writes left in `audit_pending` (see [`crate::audit`])
    /// and returns once they are in the chain, together with other writers'
    /// and audited reads in one group commit. [`Db::write`] calls it after each commit that
    /// left such rows; every `portal` command calls it when it opens the database, for rows a
    /// crash left behind.
    ///
    /// A boxed future rather than an `async fn`: `write` awaits it, and on the committer's own
    /// handle it runs `write`, a cycle the compiler can only check through a `dyn` future.
    pub fn chain_pending(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.group_commit(None)
    }

    /// Hands `entry` (or, with `None`, a request to chain pending rows) to the group commit and
    /// waits for its transaction. The committer's own handle has no group commit: it runs the
    /// transaction itself.
    fn group_commit(&self, entry: Option<crate::audit::AuditEntry>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let Some(reads) = &self.reads else {
                let entries: Vec<_> = entry.into_iter().collect();
                return self
                    .write(move |tx| {
                        Box::pin(async move { crate::audit::extend(tx, &entries, true).await.map(|_| ()) })
                    })
                    .await;
            };
            let (done, wait) = tokio::sync::oneshot::channel();
            reads.send(PendingRead { entry, done }).await.map_err(|_| StoreError::Cancelled)?;
            match wait.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(cause)) => Err(StoreError::Audit(cause)),
                Err(_) => Err(StoreError::Cancelled),
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match &*self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Pg { .. } => Backend::Postgres,
        }
    }

    /// A connection for reads (autocommit). On PostgreSQL also fine for single-statement writes
    /// that need no audit row; everything audited goes through [`Db::write`].
    pub async fn read(&self) -> Result<DbConn, StoreError> {
        match &*self.pools {
            Pools::Sqlite { read, .. } => Ok(DbConn::Sqlite(read.get_owned().await.map_err(pool_error)?)),
            Pools::Pg { pool, .. } => Ok(DbConn::Pg(pool.get_owned().await.map_err(pool_error)?)),
        }
    }

    /// A connection for single statements that write and need no audit row (a session's
    /// last-seen time, an expired row removed), outside any transaction: on SQLite the one
    /// writer, whose statements wait for the write lock on tokio's blocking pool (the readers are
    /// `query_only`: see [`SqliteRuntime`]); on PostgreSQL any pooled connection. Hold it only for
    /// the statement: every [`Db::write`] waits for SQLite's writer meanwhile.
    pub async fn write_conn(&self) -> Result<DbConn, StoreError> {
        match &*self.pools {
            Pools::Sqlite { write, .. } => Ok(DbConn::Sqlite(write.get_owned().await.map_err(pool_error)?)),
            Pools::Pg { pool, .. } => Ok(DbConn::Pg(pool.get_owned().await.map_err(pool_error)?)),
        }
    }

    /// Runs `f` in one write transaction: committed when it returns `Ok`, rolled back otherwise.
    ///
    /// The transaction runs in a task of its own, so a client that disconnects mid-request
    /// cannot leave it half done or return a connection to the pool inside a transaction.
    /// On SQLite it begins with `BEGIN IMMEDIATE`: deferred read-then-write transactions failed
    /// 48-74 % with "database is locked" under 8 writers; immediate ones never did.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut DbConn) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let db = self.clone();
        let task = tokio::spawn(crate::audit::UNCHAINED.scope(std::cell::Cell::new(false), async move {
            let mut conn = db.write_conn().await?;
            let (begin, commit) = match conn.backend() {
                Backend::Sqlite => ("BEGIN IMMEDIATE", "COMMIT"),
                // After a failed statement PostgreSQL's transaction is aborted, and COMMIT then
                // rolls back without an error: a use case that went on past a failed statement
                // would be told that nothing it wrote was lost. The no-op first statement fails
                // in an aborted transaction (and COMMIT is then skipped), in the same round trip.
                Backend::Postgres => ("BEGIN", "SELECT 1; COMMIT"),
            };
            on_backend!(&mut conn, |c| c.batch_execute(begin).await).map_err(StoreError::from)?;
            let outcome = std::panic::AssertUnwindSafe(f(&mut conn)).catch_unwind().await;
            match outcome {
                Ok(Ok(value)) => {
                    if let Err(e) = on_backend!(&mut conn, |c| c.batch_execute(commit).await) {
                        // A failed COMMIT (a deferred foreign key, SQLITE_BUSY, an I/O error)
                        // leaves SQLite's transaction open, holding the write lock; the writer
                        // would go back to the pool inside it and every later BEGIN would fail.
                        // On PostgreSQL the transaction is aborted (the guard failed) or already
                        // over (COMMIT failed); ROLLBACK ends it, with a warning at worst.
                        rollback(&mut conn).await;
                        return Err(StoreError::from(e).into());
                    }
                    if crate::audit::UNCHAINED.with(|u| u.get()) {
                        // The change and its audit rows are committed; a failure here leaves
                        // the rows pending for the next append, so the caller is not told
                        // that the change failed.
                        let chained = if conn.backend() == Backend::Sqlite {
                            // On the one writer this write already holds: through the group
                            // commit it queued behind every write waiting for the writer, and
                            // the writes arriving meanwhile waited for its next round (8 sends
                            // a second under 32 senders). This transaction writes only the
                            // audit file (see `crate::audit`).
                            chain_on(&mut conn).await
                        } else {
                            drop(conn);
                            db.chain_pending().await
                        };
                        if let Err(e) = chained {
                            tracing::warn!(error = %e, "audit rows committed but not yet chained");
                        }
                    }
                    Ok(value)
                }
                Ok(Err(e)) => {
                    rollback(&mut conn).await;
                    Err(e)
                }
                Err(panic) => {
                    rollback(&mut conn).await;
                    std::panic::resume_unwind(panic)
                }
            }
        }));
        match task.await {
            Ok(r) => r,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(StoreError::Cancelled.into()),
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        use diesel::Connection;
        use diesel_migrations::MigrationHarness;
        match &*self.pools {
            Pools::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                    let mut c = SqliteConnection::establish(&path.to_string_lossy())
                        .map_err(|e| StoreError::Connect(e.to_string()))?;
                    let audit_file = sqlite_audit_file(&path);
                    diesel::connection::SimpleConnection::batch_execute(&mut c, &sqlite_setup(&audit_file))?;
                    c.run_pending_migrations(crate::migrations::SQLITE)
                        .map_err(|e| StoreError::Migration(e.to_string()))?;
                    // The records say the audit log moved to its file (a migration did it); an
                    // empty file in its place means it was not copied or restored with them.
                    let chained =
                        diesel::connection::SimpleConnection::batch_execute(&mut c, "SELECT 1 FROM audit.audit_head");
                    if chained.is_err() {
                        return Err(missing_audit_log(&path));
                    }
                    Ok(())
                })
                .await
                .map_err(|_| StoreError::Cancelled)?
            }
            Pools::Pg { url, .. } => {
                let url = url.clone();
                tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
                    let mut c = <AsyncConnectionWrapper<PgConn> as Connection>::establish(&url)
                        .map_err(|e| StoreError::Connect(e.to_string()))?;
                    c.run_pending_migrations(crate::migrations::POSTGRES)
                        .map_err(|e| StoreError::Migration(e.to_string()))?;
                    Ok(())
                })
                .await
                .map_err(|_| StoreError::Cancelled)?
            }
        }
    }

    /// True when a trivial query answers: the readiness probe.
    pub async fn ping(&self) -> bool {
        let Ok(mut conn) = self.read().await else { return false };
        on_backend!(&mut conn, |c| diesel::sql_query("SELECT 1").execute(c).await).is_ok()
    }

    pub fn pool_stats(&self) -> PoolStats {
        let state = match &*self.pools {
            Pools::Sqlite { read, .. } => read.state(),
            Pools::Pg { pool, .. } => pool.state(),
        };
        PoolStats { connections: state.connections, idle: state.idle_connections }
    }
}

/// The version of the migration that moved SQLite's audit log to its own file.
const AUDIT_FILE_MIGRATION: &str = "20261206000150";

/// Refuses a SQLite database whose records say the audit log is in its own file when that file
/// is not there, before any connection's `ATTACH` creates an empty one in its place (which a
/// restore might then leave alone, or an operator mistake for the log). An audit file that is
/// there but empty is found by [`Db::migrate`].
fn refuse_without_audit_file(path: &Path) -> Result<(), StoreError> {
    use diesel::{Connection, QueryableByName, sql_types::BigInt, sql_types::Text};
    if !path.exists() || sqlite_audit_file(path).exists() {
        return Ok(());
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut c = SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| StoreError::Connect(e.to_string()))?;
    // A database older than the migration table (or not ours) has nothing to lose here.
    let moved = diesel::RunQueryDsl::get_result::<Count>(
        diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations WHERE version = ?")
            .bind::<Text, _>(AUDIT_FILE_MIGRATION),
        &mut c,
    )
    .is_ok_and(|r| r.n > 0);
    if moved { Err(missing_audit_log(path)) } else { Ok(()) }
}

fn missing_audit_log(path: &Path) -> StoreError {
    StoreError::Migration(format!(
        "the audit log is missing: {} must be kept (and backed up, and restored) together with {}",
        sqlite_audit_file(path).display(),
        path.display()
    ))
}

/// Chains the pending audit rows on `conn` (SQLite's writer, outside a transaction), in a
/// transaction of their own.
async fn chain_on(conn: &mut DbConn) -> Result<(), StoreError> {
    on_backend!(&mut *conn, |c| c.batch_execute("BEGIN IMMEDIATE").await)?;
    let chained = crate::audit::extend(conn, &[], true).await;
    let end = if chained.is_ok() { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = on_backend!(&mut *conn, |c| c.batch_execute(end).await) {
        rollback(conn).await;
        return Err(e.into());
    }
    chained.map(|_| ())
}

async fn rollback(conn: &mut DbConn) {
    if let Err(e) = on_backend!(conn, |c| c.batch_execute("ROLLBACK").await) {
        tracing::warn!(error = %e, "rollback failed");
    }
}

fn pool_error<E: std::fmt::Display>(e: bb8::RunError<E>) -> StoreError {
    match e {
        bb8::RunError::TimedOut => StoreError::PoolTimeout,
        bb8::RunError::User(e) => StoreError::Connect(e.to_string()),
    }
}

/// Where a SQLite connection runs its statements: diesel-async's `SpawnBlocking`, chosen per pool.
///
/// The readers run theirs on the async worker that awaits them (`inline`): a read is a few
/// hundred microseconds of CPU on pages the OS has cached, and its hop to tokio's blocking pool
/// and back (two thread wake-ups, a fifth of a signed-in read's CPU) cost more than it saved; on
/// the messaging benchmark's database (wrk, 32 connections), inbox pages went from 1,900 to 2,600
/// a second, threads from 1,900 to 3,300, archive searches from 2,900 to 4,000. They are
/// `query_only`, so that no statement of theirs ever waits for the write lock (`busy_timeout`)
/// on a worker. The writer keeps tokio's blocking pool: it waits for its lock and for `fsync`.
pub struct SqliteRuntime {
    inline: bool,
}

impl diesel_async::sync_connection_wrapper::SpawnBlocking for SqliteRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        if self.inline {
            return futures_util::future::ready(Ok(task())).boxed();
        }
        WaitOnDrop { runtime: tokio::runtime::Handle::current(), task: Some(tokio::task::spawn_blocking(task)) }
            .map(|r| r.map_err(Box::from))
            .boxed()
    }

    /// For a connection diesel-async opens itself; ours are opened by [`sqlite_pool`].
    fn get_runtime() -> Self {
        SqliteRuntime { inline: false }
    }
}

/// A statement of the writer on the blocking pool. When it is dropped before the statement has
/// finished (its request went away), it waits for it, as diesel-async's own runtime does: the
/// statement holds the connection, and the pool, taking the connection back, asks whether it is
/// broken, which needs it unshared.
struct WaitOnDrop<R> {
    runtime: tokio::runtime::Handle,
    task: Option<tokio::task::JoinHandle<R>>,
}

impl<R> std::future::Future for WaitOnDrop<R> {
    type Output = Result<R, tokio::task::JoinError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let Some(handle) = self.task.as_mut() else { return std::task::Poll::Pending };
        let outcome = std::task::ready!(std::pin::Pin::new(handle).poll(cx));
        self.task = None;
        std::task::Poll::Ready(outcome)
    }
}

impl<R> Drop for WaitOnDrop<R> {
    fn drop(&mut self) {
        if let Some(handle) = self.task.take()
            && !handle.is_finished()
        {
            tokio::task::block_in_place(|| {
                let _ = self.runtime.block_on(handle);
            });
        }
    }
}

/// The readers (`inline`, `query_only`) or the writer of a SQLite database.
async fn sqlite_pool(path: &Path, size: u32, timeout: Duration, readers: bool) -> Result<SqlitePool, StoreError> {
    let mut config = ManagerConfig::<SqliteConn>::default();
    config.recycling_method = RecyclingMethod::Fast;
    let setup = sqlite_setup(&sqlite_audit_file(path));
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let setup = setup.clone();
        async move {
            // Opening reads the schema: on the blocking pool, like every statement of the writer.
            let c = tokio::task::spawn_blocking(move || <SqliteConnection as diesel::Connection>::establish(&url))
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))??;
            let mut c = SyncConnectionWrapper::with_runtime(c, SqliteRuntime { inline: readers });
            c.batch_execute(&setup).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            if readers {
                c.batch_execute(SQLITE_READER_SETUP)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            }
            Ok(c)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path.to_string_lossy(), config);
    Pool::builder()
        .max_size(size)
        .connection_timeout(timeout)
        .test_on_check_out(false)
        .build(manager)
        .await
        .map_err(|e| StoreError::Connect(e.to_string()))
}
