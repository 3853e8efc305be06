//! Statements through the connection's statement cache.
//!
//! `Connection::execute` and `query_row` compile their SQL on every call; a node runs
//! the same few dozen statements for every message, and compiling them was about a
//! tenth of a node's CPU. [`Cached::run`] and [`Cached::row`] take the compiled
//! statement from rusqlite's cache instead ([`STATEMENT_CACHE`] entries, more than the
//! store has distinct statements, so none is compiled twice).

use rusqlite::{Connection, Params, Row};

/// Room for every statement the store runs, with its filter variants.
pub(crate) const STATEMENT_CACHE: usize = 256;

pub(crate) trait Cached {
    /// `execute`, with the statement from the cache.
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// `query_row`, with the statement from the cache.
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn run<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
