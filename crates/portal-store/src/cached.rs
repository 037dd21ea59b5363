//! Prepared-statement caching for queries diesel would otherwise prepare on every call.
//!
//! diesel keeps a connection's prepared statements in a cache, but refuses to cache two kinds
//! of query: raw SQL (`sql_query`, always), and `eq_any` on SQLite (an `IN (?, ?, ...)` whose
//! length varies). Both are safe to cache under their SQL text, which is exactly what diesel's
//! cache keys uncached-type queries by (the text and the bind types): a list of three ids and a
//! list of four are two statements. Preparing was 7 % of the CPU of the archive's search on
//! SQLite (FTS5 prepares are dear); wrapping the hot reads in [`Cached`] removes it.
//!
//! Only for queries whose SQL text takes a bounded number of shapes (a handful of locations, a
//! few search words): every shape stays in the cache for the connection's life.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `query`, prepared once per connection and SQL text (see the module's documentation).
#[derive(Debug, Clone)]
pub(crate) struct Cached<Q>(pub Q);

impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    // No static id: the cache then keys the statement by its SQL text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Cached<Q> {
    type SqlType = Q::SqlType;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

// diesel's synchronous `load` (SQLite's `load_sqlite`) asks for this marker; diesel-async's
// `RunQueryDsl` covers every type already.
impl<Q, Conn> diesel::RunQueryDsl<Conn> for Cached<Q> {}
