//! The store code SQLite and Postgres share: every query, its binds and its row decoding are
//! written once here, for [`SqlStore<D>`], whatever the backend `D`.
//!
//! The two schemas hold the same values (times as BIGINT unix milliseconds, hashes as bytes) and
//! both drivers accept `$N` placeholders, so almost every statement is the same text on both.
//! What still differs is small and lives in two places:
//! - [`Dialect`], one impl per backend: the pool type and the few SQL fragments that cannot be
//!   written one way for both (byte-order collation, the JSON column type).
//! - [`driver`], the only code that calls a sqlx driver: it binds a [`Stmt`] and reads a [`Row`]
//!   per backend (ids are TEXT on SQLite, native UUID on Postgres) and opens write transactions
//!   (SQLite takes the write lock up front).
//!
//! Why not code generic over `sqlx::Database`: every bound type and executor would need its own
//! trait bound, repeated on each of the seven trait impls. Why not a macro: the shared code would
//! be invisible to rustfmt and awkward to read. A two-armed `match` per driver call is plain code.

mod accounts;
mod driver;
mod email;
mod factors;
mod passkeys;
mod rows;
mod sessions;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::store::StoreResult;
use tessera_core::StoreError;

pub(crate) use driver::{Conn, Row, Stmt, Tx};

/// How one SQL backend differs from the others. The impls live in `sqlite/` and `postgres/`.
pub trait Dialect: fmt::Debug + Send + Sync + 'static {
    /// The sqlx pool the backend runs on, handed out by `pool()` for tests and maintenance.
    type Pool: fmt::Debug + Send + Sync;

    /// What `Store::backend` reports.
    const NAME: &'static str;
    /// Follows a text column in ORDER BY so that ties break by byte order, not by locale.
    const BYTEWISE: &'static str;
    /// The SQL type `audit_events.detail` is stored as; the JSON text is cast to it on insert.
    const JSON: &'static str;

    fn conn(pool: &Self::Pool) -> Conn<'_>;
}

/// A SQL-backed store: `SqliteStore` and `PostgresStore` are this with their [`Dialect`].
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    pool: D::Pool,
    writes: AtomicU64,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(pool: D::Pool) -> Self {
        Self {
            pool,
            writes: AtomicU64::new(0),
        }
    }

    /// How many INSERT/UPDATE/DELETE statements this store has executed.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// The underlying pool, for tests and maintenance.
    pub fn pool(&self) -> &D::Pool {
        &self.pool
    }

    /// Closes every connection; the store is unusable afterwards.
    pub async fn close(&self) {
        self.conn().close().await;
    }

    fn conn(&self) -> Conn<'_> {
        D::conn(&self.pool)
    }

    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    async fn begin_write(&self) -> StoreResult<Tx> {
        self.conn()
            .begin_write()
            .await
            .map_err(StoreError::unavailable)
    }

    /// Runs one counted write and reports how many rows it changed.
    async fn update(&self, stmt: Stmt<'_>) -> StoreResult<u64> {
        self.count_write();
        self.conn()
            .execute(&stmt)
            .await
            .map_err(StoreError::unavailable)
    }

    /// Runs one counted insert; `on_error` names the conflicts a caller can report.
    async fn insert(
        &self,
        stmt: Stmt<'_>,
        on_error: fn(sqlx::Error) -> StoreError,
    ) -> StoreResult<()> {
        self.count_write();
        self.conn().execute(&stmt).await.map_err(on_error)?;
        Ok(())
    }

    /// The row `stmt` selects, if any, decoded.
    async fn find<T>(
        &self,
        stmt: Stmt<'_>,
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.conn()
            .fetch_optional(&stmt)
            .await
            .map_err(StoreError::unavailable)?
            .as_ref()
            .map(decode)
            .transpose()
    }

    /// The row `stmt` selects, decoded; no row is an error, as with sqlx's `fetch_one`.
    async fn find_one<T>(
        &self,
        stmt: Stmt<'_>,
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.find(stmt, decode)
            .await?
            .ok_or_else(|| StoreError::unavailable(sqlx::Error::RowNotFound))
    }

    /// Every row `stmt` selects, decoded.
    async fn find_all<T>(
        &self,
        stmt: Stmt<'_>,
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let found = self
            .conn()
            .fetch_all(&stmt)
            .await
            .map_err(StoreError::unavailable)?;
        found.iter().map(decode).collect()
    }
}
