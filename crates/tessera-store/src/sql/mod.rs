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
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::store::StoreResult;
use tessera_core::StoreError;
use tokio::sync::{Mutex, MutexGuard};

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
    /// Whether the database admits one writer at a time (SQLite). Then this process queues its
    /// own writers in order (see [`SqlStore::write_gate`]) instead of letting them poll the
    /// database lock.
    const ONE_WRITER: bool;

    fn conn(pool: &Self::Pool) -> Conn<'_>;
}

/// A SQL-backed store: `SqliteStore` and `PostgresStore` are this with their [`Dialect`].
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    pool: D::Pool,
    writes: AtomicU64,
    /// Held by every write of this process when the database has a single writer lock.
    writers: Mutex<()>,
}

/// A write transaction, holding the store's write gate (if any) until it commits or drops.
pub(crate) struct WriteTx<'s> {
    tx: Tx,
    _gate: Option<MutexGuard<'s, ()>>,
}

impl WriteTx<'_> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx<'_> {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(pool: D::Pool) -> Self {
        Self {
            pool,
            writes: AtomicU64::new(0),
            writers: Mutex::new(()),
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

    /// On SQLite, a turn at writing: writers of this process wait here in arrival order (tokio's
    /// mutex is fair) rather than at the database lock, where SQLite's busy handler makes a
    /// waiter sleep and retry with growing pauses (up to 100 ms each), so under contention some
    /// writers waited many pauses while the lock sat free. Other processes writing the same file
    /// (the CLI) still meet the busy timeout. On Postgres, `None`: rows lock, not the database.
    async fn write_gate(&self) -> Option<MutexGuard<'_, ()>> {
        if D::ONE_WRITER {
            Some(self.writers.lock().await)
        } else {
            None
        }
    }

    async fn begin_write(&self) -> StoreResult<WriteTx<'_>> {
        let gate = self.write_gate().await;
        let tx = self
            .conn()
            .begin_write()
            .await
            .map_err(StoreError::unavailable)?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// Runs one counted write and reports how many rows it changed.
    async fn update(&self, stmt: Stmt<'_>) -> StoreResult<u64> {
        self.count_write();
        let _gate = self.write_gate().await;
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
        let _gate = self.write_gate().await;
        self.conn().execute(&stmt).await.map_err(on_error)?;
        Ok(())
    }

    /// Runs one counted write that also returns rows (`… RETURNING`), decoded.
    async fn write_returning<T>(
        &self,
        stmt: Stmt<'_>,
        decode: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        self.count_write();
        let _gate = self.write_gate().await;
        self.find_all(stmt, decode).await
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
