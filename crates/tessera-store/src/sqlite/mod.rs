//! The embedded default backend: SQLite through sqlx, WAL journal, runtime-checked queries.
//! The queries are shared with Postgres (`crate::sql`); this module opens the database and says
//! how SQLite's SQL differs.
//!
//! Single statements run in autocommit mode; multi-statement writes take the write lock up front
//! (see `Conn::begin_write`).

mod files;

pub use files::sqlite_file;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection};
use tessera_core::StoreError;

use crate::sql::{Conn, Dialect, SqlStore};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers run in parallel under WAL; writers queue on the database lock whatever this is.
const MAX_CONNECTIONS: u32 = 8;

/// The SQLite store: ids as hyphenated lower-case TEXT, times as INTEGER unix milliseconds.
pub type SqliteStore = SqlStore<SqliteDialect>;

#[derive(Debug)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Pool = SqlitePool;

    const NAME: &'static str = "sqlite";
    // BINARY is SQLite's default collation; named so the query reads the same as on Postgres.
    const BYTEWISE: &'static str = "COLLATE BINARY";
    const JSON: &'static str = "TEXT";
    const ONE_WRITER: bool = true;

    fn conn(pool: &SqlitePool) -> Conn<'_> {
        Conn::Sqlite(pool)
    }
}

impl SqlStore<SqliteDialect> {
    /// Opens `sqlite://PATH` (creating the file if missing) or `sqlite::memory:`.
    ///
    /// An in-memory database lives only as long as a connection to it, so it gets a pool of
    /// exactly one connection that is never closed for idleness.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::unavailable)?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS)
        };
        let options = if in_memory {
            options
        } else {
            files::make_private(options.get_filename())?;
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            // Switching to WAL needs an exclusive lock that the busy timeout does not wait for,
            // so do it once, alone, before a pool opens connections concurrently. WAL is
            // persistent: later connections find it already set.
            SqliteConnection::connect_with(&options)
                .await
                .map_err(StoreError::unavailable)?
                .close()
                .await
                .map_err(StoreError::unavailable)?;
            options
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(StoreError::unavailable)?;
        Ok(Self::new(pool))
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(self.pool())
            .await
            .map_err(StoreError::unavailable)
    }
}
